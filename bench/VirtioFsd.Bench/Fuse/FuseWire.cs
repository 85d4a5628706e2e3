using System.Buffers.Binary;

namespace VirtioFsd.Bench.Fuse;

/// <summary>
/// The FUSE numbers the benchmark sends, restated from /usr/include/linux/fuse.h (the bench must speak
/// the wire on its own, without the daemon's code, so it can drive the C virtiofsd the same way).
/// </summary>
public static class FuseOpcode
{
    public const uint Lookup = 1;
    public const uint Forget = 2;
    public const uint Getattr = 3;
    public const uint Unlink = 10;
    public const uint Open = 14;
    public const uint Read = 15;
    public const uint Write = 16;
    public const uint Release = 18;
    public const uint Init = 26;
    public const uint Opendir = 27;
    public const uint Releasedir = 29;
    public const uint Create = 35;
    public const uint Readdirplus = 44;
}

/// <summary>Sizes of the fuse.h structs the bench writes or parses (7.31 layouts).</summary>
public static class FuseSize
{
    public const int InHeader = 40;      // struct fuse_in_header
    public const int OutHeader = 16;     // struct fuse_out_header
    public const int InitIn = 16;        // struct fuse_init_in up to flags (pre-7.36 layout, accepted by all)
    public const int InitOut = 64;       // struct fuse_init_out (7.36: flags2 + unused)
    public const int EntryOut = 128;     // struct fuse_entry_out (40 + fuse_attr 88)
    public const int AttrOut = 104;      // struct fuse_attr_out (16 + fuse_attr 88)
    public const int GetattrIn = 16;     // struct fuse_getattr_in
    public const int OpenIn = 8;         // struct fuse_open_in
    public const int OpenOut = 16;       // struct fuse_open_out
    public const int ReadIn = 40;        // struct fuse_read_in
    public const int WriteIn = 40;       // struct fuse_write_in
    public const int WriteOut = 8;       // struct fuse_write_out
    public const int CreateIn = 16;      // struct fuse_create_in
    public const int ReleaseIn = 24;     // struct fuse_release_in
    public const int ForgetIn = 8;       // struct fuse_forget_in
    public const int DirentPlusFixed = 152; // fuse_entry_out (128) + fuse_dirent fixed part (24)
}

/// <summary>fuse_init_in flags the bench asks for (fuse.h "INIT request/reply flags").</summary>
public static class FuseInitFlag
{
    public const uint AsyncRead = 1u << 0;
    public const uint BigWrites = 1u << 5;
    public const uint DoReaddirplus = 1u << 13;
    public const uint ParallelDirops = 1u << 18;
    public const uint MaxPages = 1u << 22;
}

/// <summary>Little-endian field access for the few reply fields the bench reads.</summary>
public static class FuseReply
{
    /// <summary>fuse_out_header.error (0 or -errno).</summary>
    public static int Error(ReadOnlySpan<byte> reply) => BinaryPrimitives.ReadInt32LittleEndian(reply[4..]);

    public static uint Length(ReadOnlySpan<byte> reply) => BinaryPrimitives.ReadUInt32LittleEndian(reply);

    public static ulong Unique(ReadOnlySpan<byte> reply) => BinaryPrimitives.ReadUInt64LittleEndian(reply[8..]);

    /// <summary>fuse_entry_out.nodeid in a reply body.</summary>
    public static ulong EntryNodeId(ReadOnlySpan<byte> body) => BinaryPrimitives.ReadUInt64LittleEndian(body);

    /// <summary>fuse_open_out.fh in a reply body.</summary>
    public static ulong OpenFh(ReadOnlySpan<byte> body) => BinaryPrimitives.ReadUInt64LittleEndian(body);
}
