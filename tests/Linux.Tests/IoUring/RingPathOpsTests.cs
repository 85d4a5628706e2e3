using VirtioFsd.Linux.IoUring;
using static VirtioFsd.Linux.Tests.IoUring.RingTestSupport;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>Metadata operations relative to a directory fd, the way the passthrough filesystem issues them.</summary>
// Unsafe for native pointers handed to the kernel; sound because every buffer is a NativeBuffer or a
// stackalloc that stays alive until the completion that uses it has been reaped.
public sealed unsafe class RingPathOpsTests : IDisposable
{
    private const uint Mode755 = 0x1ED, Mode644 = 0x1A4; // octal 0755, 0644
    private const uint SIfMt = 0xF000; // S_IFMT

    private readonly TempDirectory _root = new("virtiofsd-io-uring-path-ops-");
    private readonly Ring _ring = CreateRing(8);
    private readonly int _rootFd;

    public RingPathOpsTests()
    {
        _rootFd = Open(Libc.AT_FDCWD, _root.Path, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0, 0);
        Assert.True(_rootFd >= 0, Errno.Describe(_rootFd));
    }

    public void Dispose()
    {
        _ring.Dispose();
        Libc.Close(_rootFd);
        _root.Dispose();
    }

    private int Open(int dirFd, string path, int flags, uint mode, ulong resolve)
    {
        using NativeBuffer p = Path(path);
        var how = new OpenHow { Flags = (ulong)flags, Mode = mode, Resolve = resolve };
        // how and the path only need to live until submission (IORING_FEAT_SUBMIT_STABLE); CompleteOne submits.
        Sqe(_ring).OpenAt2(dirFd, p.Pointer, &how, 1);
        return CompleteOne(_ring).Result;
    }

    private int PathOp(string path, Func<IntPtr, int> prepAndComplete)
    {
        using NativeBuffer p = Path(path);
        return prepAndComplete((IntPtr)p.Pointer);
    }

    private (int Result, Statx Statx) Statx(string path, uint flags)
    {
        using NativeBuffer p = Path(path);
        using var buf = new NativeBuffer(sizeof(Statx));
        // The statx buffer is written at completion: it lives in native memory until CompleteOne reaps.
        Sqe(_ring).Statx(_rootFd, p.Pointer, flags, Libc.STATX_BASIC_STATS, (Statx*)buf.Pointer, 2);
        int r = CompleteOne(_ring).Result;
        return (r, *(Statx*)buf.Pointer);
    }

    private static uint Nlink(in Statx stx) => stx.Nlink;
    private static uint Mode(in Statx stx) => stx.Mode;
    private static ulong Size(in Statx stx) => stx.Size;

    private int Mkdir(string path, uint mode) => PathOp(path, p =>
    {
        Sqe(_ring).MkdirAt(_rootFd, (byte*)p, mode, 3);
        return CompleteOne(_ring).Result;
    });

    private int Unlink(string path, uint flags) => PathOp(path, p =>
    {
        Sqe(_ring).UnlinkAt(_rootFd, (byte*)p, flags, 4);
        return CompleteOne(_ring).Result;
    });

    private int TwoPaths(string a, string b, Func<IntPtr, IntPtr, int> op)
    {
        using NativeBuffer pa = Path(a);
        using NativeBuffer pb = Path(b);
        return op((IntPtr)pa.Pointer, (IntPtr)pb.Pointer);
    }

    private int Rename(string from, string to, uint flags) => TwoPaths(from, to, (a, b) =>
    {
        Sqe(_ring).RenameAt(_rootFd, (byte*)a, _rootFd, (byte*)b, flags, 5);
        return CompleteOne(_ring).Result;
    });

    private int Link(string from, string to) => TwoPaths(from, to, (a, b) =>
    {
        Sqe(_ring).LinkAt(_rootFd, (byte*)a, _rootFd, (byte*)b, 0, 6);
        return CompleteOne(_ring).Result;
    });

    private int Symlink(string target, string link) => TwoPaths(target, link, (a, b) =>
    {
        Sqe(_ring).SymlinkAt((byte*)a, _rootFd, (byte*)b, 7);
        return CompleteOne(_ring).Result;
    });

    private int Close(int fd)
    {
        Sqe(_ring).Close(fd, 8);
        return CompleteOne(_ring).Result;
    }

    [Fact]
    public void CreateStatRenameLinkUnlinkThroughTheRing()
    {
        Assert.Equal(0, Mkdir("sub", Mode755));
        Assert.True(Directory.Exists(_root.Combine("sub")));
        Assert.Equal(-Errno.EEXIST, Mkdir("sub", Mode755));

        int fd = Open(_rootFd, "sub/file", Libc.O_CREAT | Libc.O_RDWR | Libc.O_CLOEXEC, Mode644, Libc.RESOLVE_BENEATH);
        Assert.True(fd >= 0, Errno.Describe(fd));
        using (var data = new NativeBuffer(1234))
        {
            Sqe(_ring).Write(fd, data.Pointer, 1234, 0, 9);
            Assert.Equal(1234, CompleteOne(_ring).Result);
        }
        Assert.Equal(0, Close(fd));
        Assert.Equal(-Errno.EBADF, Close(fd));

        (int r, Statx stx) = Statx("sub/file", (uint)Libc.AT_SYMLINK_NOFOLLOW);
        Assert.Equal(0, r);
        Assert.Equal(Libc.S_IFREG, Mode(stx) & SIfMt);
        Assert.Equal(Mode644, Mode(stx) & 0x1FF & ~0x12); // modulo the umask
        Assert.Equal(1234ul, Size(stx));
        Assert.Equal(1u, Nlink(stx));
        Assert.Equal(Libc.S_IFDIR, Mode(Statx("sub", 0).Statx) & SIfMt);

        Assert.Equal(0, Rename("sub/file", "sub/renamed", 0));
        Assert.Equal(-Errno.ENOENT, Statx("sub/file", 0).Result);
        Assert.Equal(0, Link("sub/renamed", "sub/hard"));
        Assert.Equal(2u, Nlink(Statx("sub/renamed", 0).Statx));
        Assert.Equal(-Errno.EEXIST, Rename("sub/renamed", "sub/hard", Libc.RENAME_NOREPLACE));

        Assert.Equal(0, Symlink("renamed", "sub/sym"));
        Assert.Equal(Libc.S_IFLNK, Mode(Statx("sub/sym", (uint)Libc.AT_SYMLINK_NOFOLLOW).Statx) & SIfMt);
        Assert.Equal(1234ul, Size(Statx("sub/sym", 0).Statx)); // followed
        Assert.Equal("renamed", new FileInfo(_root.Combine("sub/sym")).LinkTarget);

        Assert.Equal(-Errno.ENOTEMPTY, Unlink("sub", (uint)Libc.AT_REMOVEDIR));
        Assert.Equal(0, Unlink("sub/sym", 0));
        Assert.Equal(0, Unlink("sub/hard", 0));
        Assert.Equal(0, Unlink("sub/renamed", 0));
        Assert.Equal(-Errno.EISDIR, Unlink("sub", 0));
        Assert.Equal(0, Unlink("sub", (uint)Libc.AT_REMOVEDIR));
        Assert.False(Directory.Exists(_root.Combine("sub")));
    }

    [Fact]
    public void OpenAt2ResolveBeneathRefusesEscapes()
    {
        Assert.Equal(0, Symlink("/etc", "out"));
        const ulong Beneath = Libc.RESOLVE_BENEATH;
        int flags = Libc.O_PATH | Libc.O_CLOEXEC;

        Assert.Equal(-Errno.EXDEV, Open(_rootFd, "..", flags, 0, Beneath));
        Assert.Equal(-Errno.EXDEV, Open(_rootFd, "/etc/passwd", flags, 0, Beneath));
        Assert.Equal(-Errno.EXDEV, Open(_rootFd, "out/passwd", flags, 0, Beneath));
        Assert.Equal(-Errno.ELOOP, Open(_rootFd, "out", Libc.O_RDONLY | Libc.O_CLOEXEC, 0, Libc.RESOLVE_NO_SYMLINKS));

        // Without the resolve restriction the same path does escape: the flag is what protects.
        int escaped = Open(_rootFd, "out", flags, 0, 0);
        Assert.True(escaped >= 0);
        Assert.Equal(0, Close(escaped));
    }

    [Fact]
    public void OpenAt2RejectsUnknownFlagsAndModeWithoutCreate()
    {
        Assert.Equal(-Errno.EINVAL, Open(_rootFd, "x", Libc.O_RDONLY, Mode644, 0)); // mode needs O_CREAT
        Assert.Equal(-Errno.EINVAL, Open(_rootFd, "x", Libc.O_RDONLY, 0, 1ul << 40)); // unknown resolve bit
    }
}
