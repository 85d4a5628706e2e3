using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using static VirtioFsd.Fuse.Tests.Passthrough.Share;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>OPEN, READ/WRITE over iovec lists, and the per-handle operations.</summary>
public sealed class OpenAndIoTests : IDisposable
{
    private readonly Share _s = new();

    public void Dispose() => _s.Dispose();

    private NodeId File(string name, string content = "0123456789")
    {
        _s.WriteHost(name, content);
        return _s.Lookup(NodeId.Root, name).Node;
    }

    [Fact]
    public unsafe void WriteAndRead_ScatterGather_AtOffsets()
    {
        NodeId f = File("f", "");
        HandleId h = _s.Open(f, Libc.O_RDWR);
        byte[] a = "hello "u8.ToArray();
        byte[] b = "world"u8.ToArray();
        // Both arrays are pinned for the whole call by the fixed statement.
        fixed (byte* pa = a)
        fixed (byte* pb = b)
        {
            IoVec[] iov = [new IoVec((nint)pa, (nuint)a.Length), new IoVec((nint)pb, (nuint)b.Length)];
            Assert.Equal(11L, _s.Fs.Write(Root, f, h, 3, iov, 0, false));
        }
        Assert.Equal("\0\0\0hello world", System.IO.File.ReadAllText(_s.Host("f")));
        Assert.Equal("world"u8.ToArray(), _s.Read(f, h, 9, 100));
        Assert.Empty(_s.Read(f, h, 1000, 10));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Read(Root, f, h, ulong.MaxValue, ReadOnlySpan<IoVec>.Empty));
    }

    [Fact]
    public void Open_ReadOnly_WriteFails_WriteOnly_ReadFails()
    {
        NodeId f = File("f");
        HandleId ro = _s.Open(f, Libc.O_RDONLY);
        Assert.Equal(-Errno.EBADF, _s.Write(f, ro, 0, N("x")));
        HandleId wo = _s.Open(f, Libc.O_WRONLY);
        Assert.Equal(-Errno.EBADF, _s.Fs.Read(Root, f, wo, 0, new IoVec[1]));
    }

    [Fact]
    public void Open_Truncate_EmptiesFile()
    {
        NodeId f = File("f");
        _s.Open(f, Libc.O_WRONLY | Libc.O_TRUNC);
        Assert.Equal(0L, new FileInfo(_s.Host("f")).Length);
    }

    [Fact]
    public void Open_Append_WritesAtEnd()
    {
        // (Under the writeback cache the server drops O_APPEND before the filesystem sees it: a session matter,
        // tested in OpcodeDecodingTests.)
        NodeId f = File("f", "abc");
        HandleId h = _s.Open(f, Libc.O_WRONLY | Libc.O_APPEND);
        Assert.Equal(1, _s.Write(f, h, 0, N("Z")));
        Assert.Equal("abcZ", System.IO.File.ReadAllText(_s.Host("f")));
    }

    [Fact]
    public void Open_DirectoryIsEISDIR_OpenDirOfFileIsENOTDIR()
    {
        Directory.CreateDirectory(_s.Host("d"));
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        NodeId f = File("f");
        Assert.Equal(-Errno.EISDIR, _s.Fs.Open(Root, d, 0, out _));
        Assert.Equal(-Errno.ENOTDIR, _s.Fs.OpenDir(Root, f, 0, out _));
    }

    [Fact]
    public void Release_ClosesHandle_ThenItIsUnknown()
    {
        NodeId f = File("f");
        HandleId h = _s.Open(f, Libc.O_RDONLY);
        Assert.Equal(1, _s.Fs.HandleCount);
        Assert.Equal(0, _s.Fs.Flush(Root, f, h, 1));
        Assert.Equal(0, _s.Fs.Release(Root, f, h, 0, 0, false));
        Assert.Equal(0, _s.Fs.HandleCount);
        Assert.Equal(-Errno.EBADF, _s.Fs.Read(Root, f, h, 0, new IoVec[1]));
        Assert.Equal(-Errno.EBADF, _s.Fs.Release(Root, f, h, 0, 0, false));
        Assert.Equal(-Errno.EBADF, _s.Fs.Flush(Root, f, h, 1));
    }

    [Fact]
    public void Handle_UsedWithAnotherNode_IsEBADF()
    {
        NodeId f = File("f");
        NodeId g = File("g");
        HandleId h = _s.Open(f, Libc.O_RDWR);
        Assert.Equal(-Errno.EBADF, _s.Write(g, h, 0, N("x")));
        Assert.Equal(-Errno.EBADF, _s.Fs.Release(Root, g, h, 0, 0, false));
        Assert.Equal(0, _s.Fs.Release(Root, f, h, 0, 0, false));
    }

    [Fact]
    public void Fsync_Fallocate_Lseek_CopyFileRange()
    {
        NodeId f = File("f", "");
        HandleId h = _s.Open(f, Libc.O_RDWR);
        Assert.Equal(0, _s.Fs.Fsync(Root, f, h, dataSync: false));
        Assert.Equal(0, _s.Fs.Fsync(Root, f, h, dataSync: true));
        Assert.Equal(0, _s.Fs.Fallocate(Root, f, h, 0, 0, 8192));
        Assert.Equal(8192L, new FileInfo(_s.Host("f")).Length);
        Assert.Equal(3, _s.Write(f, h, 1 << 20, N("end")));

        long data = _s.Fs.Lseek(Root, f, h, 0, (uint)Libc.SEEK_DATA);
        long hole = _s.Fs.Lseek(Root, f, h, 0, (uint)Libc.SEEK_HOLE);
        Assert.True(data >= 0 && hole >= 0, $"{data} {hole}");
        Assert.True(hole < (1 << 20), $"a hole before the data at 1 MiB, got {hole}");
        Assert.Equal(-Errno.ENXIO, _s.Fs.Lseek(Root, f, h, 2 << 20, (uint)Libc.SEEK_DATA));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Lseek(Root, f, h, 0, 1));

        NodeId g = File("g", "");
        HandleId hg = _s.Open(g, Libc.O_RDWR);
        Assert.Equal(3L, _s.Fs.CopyFileRange(Root, f, h, 1 << 20, g, hg, 5, 100, 0));
        Assert.Equal("\0\0\0\0\0end", System.IO.File.ReadAllText(_s.Host("g")));
        Assert.Equal(-Errno.EINVAL, _s.Fs.CopyFileRange(Root, f, h, 0, g, hg, 0, 1, 1));
        Assert.Equal(-Errno.EBADF, _s.Fs.CopyFileRange(Root, f, h, 0, g, new HandleId(999), 0, 1, 0));
    }

    [Fact]
    public void Lseek_on_a_directory_handle_is_refused_so_readdir_positions_stay_the_streams()
    {
        Assert.Equal(0, _s.Fs.OpenDir(Root, NodeId.Root, 0, out OpenResult dir));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Lseek(Root, NodeId.Root, dir.Handle, 0, (uint)Libc.SEEK_DATA));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Lseek(Root, NodeId.Root, dir.Handle, 0, 2));
        Assert.Equal(0, _s.Fs.ReleaseDir(Root, NodeId.Root, dir.Handle));
    }

    [Fact]
    public void StatFs_SyncFs_Access()
    {
        Assert.Equal(0, _s.Fs.StatFs(Root, NodeId.Root, out StatFs st));
        Assert.True(st.Blocks > 0 && st.Bsize > 0 && st.Namelen == 255);
        Assert.Equal(0, _s.Fs.SyncFs(Root, NodeId.Root));

        _s.WriteHost("f", "x", 0b110_100_000);
        NodeId f = _s.Lookup(NodeId.Root, "f").Node;
        Assert.Equal(0, _s.Fs.Access(Root, f, 6));
        Assert.Equal(-Errno.EACCES, _s.Fs.Access(Root, f, 1));
        Assert.Equal(-Errno.EACCES, _s.Fs.Access(Nobody, f, 4));
        Assert.Equal(0, _s.Fs.Access(Nobody, f, 0));
        Assert.Equal(0, _s.Fs.Access(Nobody, NodeId.Root, 5));
        Assert.Equal(-Errno.EACCES, _s.Fs.Access(Nobody, NodeId.Root, 2));
        Assert.Equal(-Errno.EINVAL, _s.Fs.Access(Root, f, 8));
    }

    [Fact]
    public void Init_takes_what_the_server_offers_but_acls_only_with_the_options_and_never_killpriv_v1()
    {
        var all = (FuseInitFlags)ulong.MaxValue;
        FuseInitFlags got = _s.Fs.Init(all);
        Assert.Equal(FuseInitFlags.None, got & (FuseInitFlags.PosixAcl | FuseInitFlags.DontMask | FuseInitFlags.HandleKillPriv));
        Assert.Equal(FuseInitFlags.WritebackCache | FuseInitFlags.HandleKillPrivV2 | FuseInitFlags.Submounts,
            got & (FuseInitFlags.WritebackCache | FuseInitFlags.HandleKillPrivV2 | FuseInitFlags.Submounts));
        using Share acl = new(o => o with { Xattr = true, PosixAcl = true });
        Assert.Equal(FuseInitFlags.PosixAcl | FuseInitFlags.DontMask, acl.Fs.Init(all) & (FuseInitFlags.PosixAcl | FuseInitFlags.DontMask));
    }
}
