using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary><c>struct statx_timestamp</c> (linux/stat.h).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct StatxTimestamp
{
    public long Sec;
    public uint Nsec;
    private readonly int _reserved;
}

/// <summary>
/// <c>struct statx</c> (linux/stat.h), 256 bytes. Only the fields up to stx_mnt_id are named;
/// the tail is reserved room the kernel may fill with newer fields.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 256)]
public struct Statx
{
    public uint Mask;
    public uint BlkSize;
    public ulong Attributes;
    public uint Nlink;
    public uint Uid;
    public uint Gid;
    public ushort Mode;
    private readonly ushort _spare0;
    public ulong Ino;
    public ulong Size;
    public ulong Blocks;
    public ulong AttributesMask;
    public StatxTimestamp Atime;
    public StatxTimestamp Btime;
    public StatxTimestamp Ctime;
    public StatxTimestamp Mtime;
    public uint RdevMajor;
    public uint RdevMinor;
    public uint DevMajor;
    public uint DevMinor;
    public ulong MntId;
}

/// <summary><c>struct open_how</c> (linux/openat2.h) for openat2(2).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct OpenHow
{
    public ulong Flags;
    public ulong Mode;
    public ulong Resolve;
}

/// <summary><c>struct timespec</c> for utimensat(2); Nsec may be UTIME_NOW or UTIME_OMIT.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Timespec
{
    public long Sec;
    public long Nsec;
}

/// <summary><c>struct statfs</c> (asm-generic/statfs.h, 64-bit layout: 120 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct StatFsBuf
{
    public long Type;
    public long Bsize;
    public ulong Blocks;
    public ulong Bfree;
    public ulong Bavail;
    public ulong Files;
    public ulong Ffree;
    public ulong Fsid;
    public long Namelen;
    public long Frsize;
    public long Flags;
    private readonly long _spare0;
    private readonly long _spare1;
    private readonly long _spare2;
    private readonly long _spare3;
}

/// <summary><c>struct flock</c> (asm-generic/fcntl.h, 64-bit: 32 bytes) for the OFD lock commands.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Flock
{
    public short Type;
    public short Whence;
    public long Start;
    public long Len;
    public int Pid;
}
