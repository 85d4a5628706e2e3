using System.IO.MemoryMappedFiles;
using System.Text;
using VirtioFsd.FuseMount;
using VirtioFsd.Linux;

namespace VirtioFsd.Tests.HostMount;

/// <summary>
/// Focused POSIX checks through the real kernel on a host mount, once per transport: data (read,
/// write, append, mmap), names (rename, link, readdir of many entries), xattrs and locks.
/// </summary>
[Collection(HostMountCollection.Name)]
public sealed class HostMountSemanticsTests
{
    public static TheoryData<FuseTransportKind> Transports => new() { FuseTransportKind.Dev, FuseTransportKind.Uring };

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void Data_written_through_the_mount_is_the_host_file_and_back(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        string path = Path.Combine(s.MountPoint, "data.bin");
        byte[] data = new byte[3 << 20];
        new Random(8).NextBytes(data);
        File.WriteAllBytes(path, data);
        Assert.Equal(data, File.ReadAllBytes(Path.Combine(s.Share, "data.bin")));

        using (var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Seek(1000, SeekOrigin.Begin);
            f.Write("middle"u8);
            f.Seek(0, SeekOrigin.End);
            f.Write("tail"u8);
        }
        byte[] host = File.ReadAllBytes(Path.Combine(s.Share, "data.bin"));
        Assert.Equal("middle", Encoding.ASCII.GetString(host, 1000, 6));
        Assert.Equal("tail", Encoding.ASCII.GetString(host, data.Length, 4));
        File.WriteAllText(Path.Combine(s.Share, "host.txt"), "from the host");
        Assert.Equal("from the host", File.ReadAllText(Path.Combine(s.MountPoint, "host.txt")));
        s.AssertTransport(transport);
    }

    /// <summary>
    /// A missing name is answered as a negative entry for the entry timeout (1 s, cache=auto): a second look-up within
    /// it stays in the kernel, a name created through the mount is seen at once, and one created on the host behind the
    /// kernel's back once the timeout has passed.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void A_missing_name_is_cached_for_the_entry_timeout(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        long Requests() => s.Mount.DevRequests + s.Mount.UringRequests;
        string host = Path.Combine(s.Share, "later.txt");
        string mounted = Path.Combine(s.MountPoint, "later.txt");

        Assert.False(File.Exists(mounted));
        long afterFirst = Requests();
        Assert.False(File.Exists(mounted));
        Assert.Equal(afterFirst, Requests());

        File.WriteAllText(host, "made on the host");
        Thread.Sleep(TimeSpan.FromSeconds(1.2));
        Assert.True(File.Exists(mounted));
        Assert.Equal("made on the host", File.ReadAllText(mounted));

        string through = Path.Combine(s.MountPoint, "through.txt");
        Assert.False(File.Exists(through));
        File.WriteAllText(through, "made through the mount");
        Assert.True(File.Exists(through));
        Assert.Equal("made through the mount", File.ReadAllText(Path.Combine(s.Share, "through.txt")));
        s.AssertTransport(transport);
    }

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void Shared_mmap_writes_reach_the_host_file(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        string path = Path.Combine(s.MountPoint, "mapped.bin");
        File.WriteAllBytes(path, new byte[8192]);
        using (var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 8192, MemoryMappedFileAccess.ReadWrite))
        using (MemoryMappedViewAccessor view = map.CreateViewAccessor(0, 8192))
        {
            view.Write(4096, 0x1234_5678);
            view.Flush();
            Assert.Equal(0x1234_5678, view.ReadInt32(4096));
        }
        byte[] host = File.ReadAllBytes(Path.Combine(s.Share, "mapped.bin"));
        Assert.Equal(0x1234_5678, BitConverter.ToInt32(host, 4096));
    }

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void Rename_link_and_a_directory_of_many_entries(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        string dir = Path.Combine(s.MountPoint, "many");
        Directory.CreateDirectory(dir);
        for (int i = 0; i < 2000; i++)
        {
            File.WriteAllText(Path.Combine(dir, $"f{i}"), "");
        }
        string[] names = Directory.GetFiles(dir).Select(Path.GetFileName).ToArray()!;
        Assert.Equal(2000, names.Length);
        Assert.Equal(Enumerable.Range(0, 2000).Select(i => $"f{i}").Order(StringComparer.Ordinal), names.Order(StringComparer.Ordinal));

        File.Move(Path.Combine(dir, "f0"), Path.Combine(s.MountPoint, "moved"));
        Assert.True(File.Exists(Path.Combine(s.Share, "moved")));
        Assert.False(File.Exists(Path.Combine(s.Share, "many", "f0")));
        File.WriteAllText(Path.Combine(s.MountPoint, "target"), "t");
        File.CreateSymbolicLink(Path.Combine(s.MountPoint, "sym"), "target");
        Assert.Equal("target", new FileInfo(Path.Combine(s.Share, "sym")).LinkTarget);
        Assert.Equal("t", File.ReadAllText(Path.Combine(s.MountPoint, "sym")));
        Directory.Delete(dir, recursive: true);
        Assert.False(Directory.Exists(Path.Combine(s.Share, "many")));
    }

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void Xattrs_are_the_host_files_xattrs(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        string path = Path.Combine(s.MountPoint, "x.txt");
        File.WriteAllText(path, "x");
        Assert.Equal(0, Libc.Setxattr(Encoding.UTF8.GetBytes(path), "user.color"u8, "blue"u8, 0));
        Assert.Equal("blue", GetXattr(Path.Combine(s.Share, "x.txt"), "user.color"));
        Assert.Equal("blue", GetXattr(path, "user.color"));
        Assert.Equal(0, Libc.Removexattr(Encoding.UTF8.GetBytes(path), "user.color"u8));
        Assert.Null(GetXattr(Path.Combine(s.Share, "x.txt"), "user.color"));
    }

    [SkippableTheory]
    [MemberData(nameof(Transports))]
    public void Flock_and_fcntl_locks_conflict_across_open_files(FuseTransportKind transport)
    {
        using var s = new HostMountSession(transport);
        string path = Path.Combine(s.MountPoint, "locked");
        File.WriteAllText(path, "lock me");
        int a = Libc.OpenAbsolute(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        int b = Libc.OpenAbsolute(path, Libc.O_RDWR | Libc.O_CLOEXEC);
        try
        {
            Assert.Equal(0, Libc.Flock(a, Libc.LOCK_EX | Libc.LOCK_NB));
            Assert.Equal(-Errno.EAGAIN, Libc.Flock(b, Libc.LOCK_EX | Libc.LOCK_NB));
            Assert.Equal(0, Libc.Flock(a, Libc.LOCK_UN));
            Assert.Equal(0, Libc.Flock(b, Libc.LOCK_EX | Libc.LOCK_NB));

            // An OFD lock (per open file, so two fds of one process conflict) over bytes 0-9.
            Assert.Equal(0, SetLock(a, 0, 10));
            Assert.Equal(-Errno.EAGAIN, SetLock(b, 5, 10));
            Assert.Equal(0, SetLock(b, 10, 10));
        }
        finally
        {
            Libc.Close(a);
            Libc.Close(b);
        }
    }

    [SkippableFact]
    public void Uring_transport_falls_back_to_dev_fuse_when_the_kernel_does_not_offer_it()
    {
        UringSwitch.TrySet(false);
        try
        {
            // A switch this process cannot turn off (not root) would make this a test of the uring transport.
            Skip.If(UringSwitch.Available, "fuse.enable_uring is Y and this process cannot switch it off");
            using var s = new HostMountSession(FuseTransportKind.Uring, enableUring: false);
            File.WriteAllText(Path.Combine(s.MountPoint, "f.txt"), "fallback");
            Assert.Equal("fallback", File.ReadAllText(Path.Combine(s.Share, "f.txt")));
            Assert.True(s.Mount.Initialized.Wait(TimeSpan.FromSeconds(90)));
            Assert.False(s.Mount.UringActive);
            Assert.Equal(0, s.Mount.UringRequests);
            Assert.True(s.Mount.DevRequests > 1);
            Assert.Contains(s.Logged.Lines, l => l.Contains("did not offer FUSE_OVER_IO_URING", StringComparison.Ordinal));
        }
        finally
        {
            UringSwitch.TrySet(true);
        }
    }

    private static int SetLock(int fd, long start, long length)
    {
        var lk = new Flock { Type = Libc.F_WRLCK, Start = start, Len = length };
        return Libc.FcntlLock(fd, Libc.F_OFD_SETLK, ref lk);
    }

    private static string? GetXattr(string path, string name)
    {
        Span<byte> buffer = stackalloc byte[256];
        int n = Libc.Getxattr(Encoding.UTF8.GetBytes(path), Encoding.UTF8.GetBytes(name), buffer);
        return n < 0 ? null : Encoding.UTF8.GetString(buffer[..n]);
    }
}
