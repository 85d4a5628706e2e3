using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;

namespace VirtioFsd.Fuse.Tests.Abi;

/// <summary>
/// Pins every wire struct to the size of its C counterpart. The numbers were printed once by a
/// small C program compiled with gcc against /usr/include/linux/fuse.h (7.38, x86_64):
/// <c>printf("%zu", sizeof(struct fuse_in_header))</c> and so on for each struct, plus
/// FUSE_NAME_OFFSET (24) and FUSE_NAME_OFFSET_DIRENTPLUS (152). fuse_supp_groups (7.39) is pinned
/// from the 7.39 header's definition (one u32 before the flexible array).
/// </summary>
public class FuseAbiSizeTests
{
    public static TheoryData<string, int, int> Sizes => new()
    {
        { "fuse_in_header", Unsafe.SizeOf<FuseInHeader>(), 40 },
        { "fuse_out_header", Unsafe.SizeOf<FuseOutHeader>(), 16 },
        { "fuse_attr", Unsafe.SizeOf<FuseAttr>(), 88 },
        { "fuse_kstatfs", Unsafe.SizeOf<FuseKstatfs>(), 80 },
        { "fuse_file_lock", Unsafe.SizeOf<FuseFileLock>(), 24 },
        { "fuse_entry_out", Unsafe.SizeOf<FuseEntryOut>(), 128 },
        { "fuse_forget_in", Unsafe.SizeOf<FuseForgetIn>(), 8 },
        { "fuse_forget_one", Unsafe.SizeOf<FuseForgetOne>(), 16 },
        { "fuse_batch_forget_in", Unsafe.SizeOf<FuseBatchForgetIn>(), 8 },
        { "fuse_getattr_in", Unsafe.SizeOf<FuseGetAttrIn>(), 16 },
        { "fuse_attr_out", Unsafe.SizeOf<FuseAttrOut>(), 104 },
        { "fuse_mknod_in", Unsafe.SizeOf<FuseMknodIn>(), 16 },
        { "fuse_mkdir_in", Unsafe.SizeOf<FuseMkdirIn>(), 8 },
        { "fuse_rename_in", Unsafe.SizeOf<FuseRenameIn>(), 8 },
        { "fuse_rename2_in", Unsafe.SizeOf<FuseRename2In>(), 16 },
        { "fuse_link_in", Unsafe.SizeOf<FuseLinkIn>(), 8 },
        { "fuse_setattr_in", Unsafe.SizeOf<FuseSetAttrIn>(), 88 },
        { "fuse_open_in", Unsafe.SizeOf<FuseOpenIn>(), 8 },
        { "fuse_create_in", Unsafe.SizeOf<FuseCreateIn>(), 16 },
        { "fuse_open_out", Unsafe.SizeOf<FuseOpenOut>(), 16 },
        { "fuse_release_in", Unsafe.SizeOf<FuseReleaseIn>(), 24 },
        { "fuse_flush_in", Unsafe.SizeOf<FuseFlushIn>(), 24 },
        { "fuse_read_in", Unsafe.SizeOf<FuseReadIn>(), 40 },
        { "fuse_write_in", Unsafe.SizeOf<FuseWriteIn>(), 40 },
        { "fuse_write_out", Unsafe.SizeOf<FuseWriteOut>(), 8 },
        { "fuse_statfs_out", Unsafe.SizeOf<FuseStatFsOut>(), 80 },
        { "fuse_fsync_in", Unsafe.SizeOf<FuseFsyncIn>(), 16 },
        { "fuse_setxattr_in", Unsafe.SizeOf<FuseSetXattrIn>(), 16 },
        { "fuse_getxattr_in", Unsafe.SizeOf<FuseGetXattrIn>(), 8 },
        { "fuse_getxattr_out", Unsafe.SizeOf<FuseGetXattrOut>(), 8 },
        { "fuse_lk_in", Unsafe.SizeOf<FuseLkIn>(), 48 },
        { "fuse_lk_out", Unsafe.SizeOf<FuseLkOut>(), 24 },
        { "fuse_access_in", Unsafe.SizeOf<FuseAccessIn>(), 8 },
        { "fuse_init_in", Unsafe.SizeOf<FuseInitIn>(), 64 },
        { "fuse_init_out", Unsafe.SizeOf<FuseInitOut>(), 64 },
        { "fuse_interrupt_in", Unsafe.SizeOf<FuseInterruptIn>(), 8 },
        { "fuse_ioctl_in", Unsafe.SizeOf<FuseIoctlIn>(), 32 },
        { "fuse_ioctl_out", Unsafe.SizeOf<FuseIoctlOut>(), 16 },
        { "fuse_poll_in", Unsafe.SizeOf<FusePollIn>(), 24 },
        { "fuse_poll_out", Unsafe.SizeOf<FusePollOut>(), 8 },
        { "fuse_fallocate_in", Unsafe.SizeOf<FuseFallocateIn>(), 32 },
        { "fuse_dirent (FUSE_NAME_OFFSET)", Unsafe.SizeOf<FuseDirent>(), 24 },
        { "fuse_direntplus (FUSE_NAME_OFFSET_DIRENTPLUS)", Unsafe.SizeOf<FuseDirentPlus>(), 152 },
        { "fuse_lseek_in", Unsafe.SizeOf<FuseLseekIn>(), 24 },
        { "fuse_lseek_out", Unsafe.SizeOf<FuseLseekOut>(), 8 },
        { "fuse_copy_file_range_in", Unsafe.SizeOf<FuseCopyFileRangeIn>(), 56 },
        { "fuse_syncfs_in", Unsafe.SizeOf<FuseSyncFsIn>(), 8 },
        { "fuse_ext_header", Unsafe.SizeOf<FuseExtHeader>(), 8 },
        { "fuse_secctx_header", Unsafe.SizeOf<FuseSecctxHeader>(), 8 },
        { "fuse_supp_groups", Unsafe.SizeOf<FuseSuppGroups>(), 4 },

        // 7.42 (kernel include/uapi/linux/fuse.h, Linux 6.14): FUSE-over-io_uring.
        { "fuse_uring_ent_in_out", Unsafe.SizeOf<FuseUringEntInOut>(), 32 },
        { "fuse_uring_req_header", Unsafe.SizeOf<FuseUringReqHeader>(), 288 },
        { "fuse_uring_cmd_req", Unsafe.SizeOf<FuseUringCmdReq>(), 24 },
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Struct_size_matches_the_C_header(string name, int actual, int expected)
        => Assert.True(actual == expected, $"{name}: {actual} bytes, fuse.h says {expected}");

    [Fact]
    public void Field_offsets_that_follow_uneven_fields_match_the_header()
    {
        // fuse_init_out: max_pages at 28 and flags2 at 32; fuse_in_header.total_extlen at 36 (offsetof with gcc).
        Assert.Equal(28, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.MaxPages)));
        Assert.Equal(32, (int)Marshal.OffsetOf<FuseInitOut>(nameof(FuseInitOut.Flags2)));
        Assert.Equal(36, (int)Marshal.OffsetOf<FuseInHeader>(nameof(FuseInHeader.TotalExtLen)));
        Assert.Equal(16, (int)Marshal.OffsetOf<FuseInitIn>(nameof(FuseInitIn.Flags2)));

        // fuse_uring_req_header: op_in after the 128-byte in_out, ring_ent_in_out after op_in;
        // fuse_uring_ent_in_out.payload_sz at 16; fuse_uring_cmd_req.qid at 16.
        Assert.Equal(FuseUringReqHeader.OpInOffset, (int)Marshal.OffsetOf<FuseUringReqHeader>(nameof(FuseUringReqHeader.OpIn)));
        Assert.Equal(FuseUringReqHeader.EntInOutOffset, (int)Marshal.OffsetOf<FuseUringReqHeader>(nameof(FuseUringReqHeader.RingEntInOut)));
        Assert.Equal(16, (int)Marshal.OffsetOf<FuseUringEntInOut>(nameof(FuseUringEntInOut.PayloadSize)));
        Assert.Equal(16, (int)Marshal.OffsetOf<FuseUringCmdReq>(nameof(FuseUringCmdReq.QueueId)));
    }

    [Fact]
    public void Opcodes_and_flags_have_their_header_numbers()
    {
        Assert.Equal(26u, (uint)FuseOpcode.Init);
        Assert.Equal(42u, (uint)FuseOpcode.BatchForget);
        Assert.Equal(51u, (uint)FuseOpcode.Tmpfile);
        Assert.Equal(52u, (uint)FuseOpcode.Statx);
        Assert.Equal(1UL << 30, (ulong)FuseInitFlags.InitExt);
        Assert.Equal(1UL << 34, (ulong)FuseInitFlags.CreateSuppGroup);
        Assert.Equal(1UL << 22, (ulong)FuseInitFlags.MaxPages);
        Assert.Equal(1UL << 41, (ulong)FuseInitFlags.OverIoUring);
        Assert.Equal(1u, (uint)FuseUringCommand.Register);
        Assert.Equal(2u, (uint)FuseUringCommand.CommitAndFetch);
    }
}
