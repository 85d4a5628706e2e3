using System.Buffers.Binary;
using System.Text;

namespace VirtioFsd.Bench.Fuse;

/// <summary>
/// Encodes one FUSE request (fuse_in_header + op-specific struct + optional name) into a buffer, as
/// the Linux guest lays it out (fs/fuse/virtio_fs.c puts the header and each argument in their own
/// scatter-gather element; the payload of a WRITE is separate and not written here).
/// Returns the number of bytes of header + arguments; fuse_in_header.len also counts <c>payload</c>.
/// </summary>
public static class FuseRequestWriter
{
    private const uint RootUidGid = 0;

    public static int Init(Span<byte> dst, ulong unique, uint maxReadahead)
    {
        Span<byte> a = Args(dst);
        BinaryPrimitives.WriteUInt32LittleEndian(a, 7);        // major: FUSE_KERNEL_VERSION
        BinaryPrimitives.WriteUInt32LittleEndian(a[4..], 31);  // minor: a 7.31 guest (both daemons speak it)
        BinaryPrimitives.WriteUInt32LittleEndian(a[8..], maxReadahead);
        BinaryPrimitives.WriteUInt32LittleEndian(a[12..], FuseInitFlag.AsyncRead | FuseInitFlag.BigWrites
            | FuseInitFlag.DoReaddirplus | FuseInitFlag.ParallelDirops | FuseInitFlag.MaxPages);
        return Header(dst, FuseOpcode.Init, unique, 0, FuseSize.InitIn, 0);
    }

    /// <summary>LOOKUP / UNLINK: the argument is a NUL-terminated name.</summary>
    public static int Named(Span<byte> dst, uint opcode, ulong unique, ulong parent, string name)
    {
        int n = Encoding.UTF8.GetBytes(name, Args(dst));
        Args(dst)[n] = 0;
        return Header(dst, opcode, unique, parent, n + 1, 0);
    }

    public static int Getattr(Span<byte> dst, ulong unique, ulong node)
    {
        Args(dst)[..FuseSize.GetattrIn].Clear();
        return Header(dst, FuseOpcode.Getattr, unique, node, FuseSize.GetattrIn, 0);
    }

    /// <summary>OPEN / OPENDIR (fuse_open_in).</summary>
    public static int Open(Span<byte> dst, uint opcode, ulong unique, ulong node, int flags)
    {
        Span<byte> a = Args(dst);
        BinaryPrimitives.WriteInt32LittleEndian(a, flags);
        BinaryPrimitives.WriteUInt32LittleEndian(a[4..], 0);
        return Header(dst, opcode, unique, node, FuseSize.OpenIn, 0);
    }

    /// <summary>READ / READDIRPLUS (fuse_read_in).</summary>
    public static int Read(Span<byte> dst, uint opcode, ulong unique, ulong node, ulong fh, ulong offset, uint size)
    {
        Span<byte> a = Args(dst)[..FuseSize.ReadIn];
        a.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(a, fh);
        BinaryPrimitives.WriteUInt64LittleEndian(a[8..], offset);
        BinaryPrimitives.WriteUInt32LittleEndian(a[16..], size);
        return Header(dst, opcode, unique, node, FuseSize.ReadIn, 0);
    }

    /// <summary>WRITE (fuse_write_in); the <paramref name="size"/> data bytes follow in their own buffer.</summary>
    public static int Write(Span<byte> dst, ulong unique, ulong node, ulong fh, ulong offset, uint size)
    {
        Span<byte> a = Args(dst)[..FuseSize.WriteIn];
        a.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(a, fh);
        BinaryPrimitives.WriteUInt64LittleEndian(a[8..], offset);
        BinaryPrimitives.WriteUInt32LittleEndian(a[16..], size);
        return Header(dst, FuseOpcode.Write, unique, node, FuseSize.WriteIn, size);
    }

    /// <summary>CREATE (fuse_create_in + name).</summary>
    public static int Create(Span<byte> dst, ulong unique, ulong parent, string name, int flags, uint mode)
    {
        Span<byte> a = Args(dst);
        BinaryPrimitives.WriteInt32LittleEndian(a, flags);
        BinaryPrimitives.WriteUInt32LittleEndian(a[4..], mode);
        BinaryPrimitives.WriteUInt32LittleEndian(a[8..], 0x12); // umask 022
        BinaryPrimitives.WriteUInt32LittleEndian(a[12..], 0);
        int n = Encoding.UTF8.GetBytes(name, a[FuseSize.CreateIn..]);
        a[FuseSize.CreateIn + n] = 0;
        return Header(dst, FuseOpcode.Create, unique, parent, FuseSize.CreateIn + n + 1, 0);
    }

    /// <summary>RELEASE / RELEASEDIR (fuse_release_in).</summary>
    public static int Release(Span<byte> dst, uint opcode, ulong unique, ulong node, ulong fh, int flags)
    {
        Span<byte> a = Args(dst)[..FuseSize.ReleaseIn];
        a.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(a, fh);
        BinaryPrimitives.WriteInt32LittleEndian(a[8..], flags);
        return Header(dst, opcode, unique, node, FuseSize.ReleaseIn, 0);
    }

    /// <summary>FORGET (fuse_forget_in): drops <paramref name="nlookup"/> lookups of <paramref name="node"/>; no reply.</summary>
    public static int Forget(Span<byte> dst, ulong unique, ulong node, ulong nlookup)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(Args(dst), nlookup);
        return Header(dst, FuseOpcode.Forget, unique, node, FuseSize.ForgetIn, 0);
    }

    private static Span<byte> Args(Span<byte> dst) => dst[FuseSize.InHeader..];

    private static int Header(Span<byte> dst, uint opcode, ulong unique, ulong node, int argBytes, uint payload)
    {
        int len = FuseSize.InHeader + argBytes;
        BinaryPrimitives.WriteUInt32LittleEndian(dst, checked((uint)len + payload));
        BinaryPrimitives.WriteUInt32LittleEndian(dst[4..], opcode);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[8..], unique);
        BinaryPrimitives.WriteUInt64LittleEndian(dst[16..], node);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[24..], RootUidGid);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[28..], RootUidGid);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[32..], (uint)Environment.ProcessId);
        BinaryPrimitives.WriteUInt32LittleEndian(dst[36..], 0); // total_extlen + padding
        return len;
    }
}
