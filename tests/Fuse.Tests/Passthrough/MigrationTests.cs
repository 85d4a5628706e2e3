using System.Text;
using Serilog;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Migration;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>
/// Live migration between two filesystems over one share, as a source and a destination daemon: the guest's nodes,
/// lookup counts and open handles survive (data read and written through the migrated handle), by path and by file
/// handle; what changed on the host between save and load ends as --migration-on-error says; hostile states (paths out
/// of the share, handles outside it, a changed byte) are refused and change nothing.
/// </summary>
public sealed class MigrationTests : IDisposable
{
    private static readonly RequestContext Root = Share.Root;
    private readonly Share _s = new(o => o with { InodeFileHandles = InodeFileHandleMode.Prefer });
    private readonly List<PassthroughFileSystem> _destinations = [];

    public void Dispose()
    {
        foreach (PassthroughFileSystem fs in _destinations)
        {
            fs.Dispose();
        }
        _s.Dispose();
    }

    private PassthroughFileSystem Destination(MigrationOptions? migration = null, InodeFileHandleMode handles = InodeFileHandleMode.Prefer)
    {
        var fs = new PassthroughFileSystem(new PassthroughOptions
        {
            SharedDirectory = _s.Path,
            InodeFileHandles = handles,
            Migration = migration ?? new MigrationOptions(),
        }, new LoggerConfiguration().CreateLogger());
        _destinations.Add(fs);
        return fs;
    }

    private byte[] Save(MigrationOptions? options = null) => SaveFrom(_s, options ?? new MigrationOptions(), out string? problem)
        ?? throw new Xunit.Sdk.XunitException($"save refused: {problem}");

    private static byte[]? SaveFrom(Share share, MigrationOptions options, out string? problem)
    {
        PassthroughFileSystem fs = share.Fs;
        fs.MigrationOptionsForTests = options;
        var w = new StateWriter();
        problem = fs.SaveState(w);
        return problem is null ? w.Finish() : null;
    }

    private static string? Load(PassthroughFileSystem fs, byte[] state) => fs.LoadState(new StateReader(state));

    private static unsafe byte[] ReadFrom(PassthroughFileSystem fs, NodeId node, HandleId handle, int count)
    {
        byte[] buffer = new byte[count];
        fixed (byte* p = buffer)
        {
            long n = fs.Read(Root, node, handle, 0, [new IoVec((nint)p, (nuint)count)]);
            Assert.True(n >= 0, $"read: {n}");
            return buffer[..(int)n];
        }
    }

    private static unsafe long WriteTo(PassthroughFileSystem fs, NodeId node, HandleId handle, ulong offset, byte[] data)
    {
        fixed (byte* p = data)
        {
            return fs.Write(Root, node, handle, offset, [new IoVec((nint)p, (nuint)data.Length)], 0, false);
        }
    }

    [Theory]
    [InlineData(MigrationMode.FindPaths)]
    [InlineData(MigrationMode.FileHandles)]
    public void Nodes_lookup_counts_and_open_handles_survive(MigrationMode mode)
    {
        Directory.CreateDirectory(_s.Host("d"));
        _s.WriteHost("d/a.txt", "hello");
        NodeId d = _s.Lookup(NodeId.Root, "d").Node;
        Assert.Equal(d, _s.Lookup(NodeId.Root, "d").Node); // two lookups
        NodeId a = _s.Lookup(d, "a.txt").Node;
        HandleId fh = _s.Open(a, Libc.O_RDWR | Libc.O_TRUNC);
        Assert.Equal(0, _s.Fs.OpenDir(Root, d, 0, out OpenResult dir));
        Assert.Equal(5, _s.Write(a, fh, 0, Encoding.ASCII.GetBytes("HELLO")));

        byte[] state = Save(new MigrationOptions { Mode = mode });
        PassthroughFileSystem dest = Destination();
        Assert.Null(Load(dest, state));

        // The guest goes on with its node ids and handle numbers; O_TRUNC was not applied again.
        Assert.Equal("HELLO", Encoding.ASCII.GetString(ReadFrom(dest, a, fh, 100)));
        Assert.Equal(6, WriteTo(dest, a, fh, 5, Encoding.ASCII.GetBytes(" world")));
        Assert.Equal("HELLO world", File.ReadAllText(_s.Host("d/a.txt")));
        var listing = new ListSink(10);
        Assert.Equal(0, dest.ReadDir(Root, d, dir.Handle, 0, listing));
        Assert.Contains(listing.Entries, e => e.Name == "a.txt");
        Assert.Equal(0, dest.GetAttr(Root, a, null, out FileAttr attr));
        Assert.Equal(11UL, attr.Size);
        // A later lookup of a known inode answers its migrated id; a new inode gets an id never given before.
        Assert.Equal(0, dest.Lookup(Root, d, Share.N("a.txt"), out Entry again));
        Assert.Equal(a, again.Node);
        _s.WriteHost("d/b.txt", "b");
        Assert.Equal(0, dest.Lookup(Root, d, Share.N("b.txt"), out Entry fresh));
        Assert.True(fresh.Node.Value > a.Value && fresh.Node.Value > d.Value);
        // Lookup counts came along: two FORGETs of d's two lookups (plus the one just added for a) drop it.
        dest.Forget(d, 1);
        Assert.Equal(0, dest.GetAttr(Root, d, null, out _));
        dest.Forget(d, 1);
        Assert.Equal(-Errno.ESTALE, dest.GetAttr(Root, d, null, out _));
        Assert.Equal(0, dest.Release(Root, a, fh, 0, 0, false));
        Assert.Equal(0, dest.ReleaseDir(Root, d, dir.Handle));
    }

    [Fact]
    public void An_unlinked_open_file_moves_by_file_handle_but_not_by_path()
    {
        _s.WriteHost("gone.txt", "still here");
        NodeId f = _s.Lookup(NodeId.Root, "gone.txt").Node;
        HandleId fh = _s.Open(f, Libc.O_RDONLY);
        File.Delete(_s.Host("gone.txt"));

        Assert.Null(SaveFrom(_s, new MigrationOptions(), out string? problem));
        Assert.Contains("node " + f.Value, problem, StringComparison.Ordinal);

        byte[] state = Save(new MigrationOptions { Mode = MigrationMode.FileHandles });
        PassthroughFileSystem dest = Destination();
        Assert.Null(Load(dest, state));
        Assert.Equal("still here", Encoding.ASCII.GetString(ReadFrom(dest, f, fh, 100)));
    }

    [Fact]
    public void A_file_renamed_on_the_host_after_saving_fails_abort_and_becomes_stale_with_guest_error()
    {
        _s.WriteHost("x.txt", "x");
        _s.WriteHost("y.txt", "y");
        NodeId x = _s.Lookup(NodeId.Root, "x.txt").Node;
        NodeId y = _s.Lookup(NodeId.Root, "y.txt").Node;
        HandleId yh = _s.Open(y, Libc.O_RDONLY);
        byte[] state = Save();
        File.Move(_s.Host("x.txt"), _s.Host("moved.txt"));

        PassthroughFileSystem strict = Destination();
        string? refused = Load(strict, state);
        Assert.Contains("abort", refused, StringComparison.Ordinal);
        Assert.Equal(1, strict.NodeCount); // nothing was taken over
        Assert.Equal(0, strict.HandleCount);

        PassthroughFileSystem lenient = Destination(new MigrationOptions { OnError = MigrationErrorPolicy.GuestError });
        Assert.Null(Load(lenient, state));
        Assert.Equal(-Errno.ESTALE, lenient.GetAttr(Root, x, null, out _));
        Assert.Equal("y", Encoding.ASCII.GetString(ReadFrom(lenient, y, yh, 10)));
    }

    [Fact]
    public void A_path_replaced_by_another_file_is_caught_by_verify_handles()
    {
        _s.WriteHost("v.txt", "original");
        NodeId v = _s.Lookup(NodeId.Root, "v.txt").Node;
        byte[] state = Save(new MigrationOptions { VerifyHandles = true });
        File.Delete(_s.Host("v.txt"));
        _s.WriteHost("v.txt", "impostor");
        string? refused = Load(Destination(), state);
        Assert.Contains("file handles differ", refused, StringComparison.Ordinal);
        _ = v;
    }

    [Fact]
    public void Held_locks_refuse_the_migration_under_abort_and_are_dropped_with_guest_error()
    {
        _s.WriteHost("l.txt", "l");
        NodeId l = _s.Lookup(NodeId.Root, "l.txt").Node;
        HandleId h = _s.Open(l, Libc.O_RDWR);
        var exclusive = new FileLock { Type = (uint)Libc.F_WRLCK, End = long.MaxValue };
        _s.WriteHost("p.txt", "p");
        NodeId p = _s.Lookup(NodeId.Root, "p.txt").Node;
        HandleId ph = _s.Open(p, Libc.O_RDWR);
        Assert.NotNull(SaveFrom(_s, new MigrationOptions(), out _)); // open, unlocked: fine

        // A POSIX record lock (held on the daemon's description for that lock owner) and a flock on the handle.
        var range = new FileLock { Type = (uint)Libc.F_RDLCK, Start = 10, End = 20 };
        Assert.Equal(0, _s.Fs.SetLock(Root, p, ph, 9, range, wait: false, isFlock: false));
        Assert.Null(SaveFrom(_s, new MigrationOptions(), out string? problem));
        Assert.Contains("1 file(s)", problem, StringComparison.Ordinal);
        Assert.Equal(0, _s.Fs.SetLock(Root, l, h, 7, exclusive, wait: false, isFlock: true));
        Assert.Null(SaveFrom(_s, new MigrationOptions(), out problem));
        Assert.Contains("2 file(s)", problem, StringComparison.Ordinal);
        Assert.NotNull(SaveFrom(_s, new MigrationOptions { OnError = MigrationErrorPolicy.GuestError }, out _));

        // Unlocked again (the probe itself left nothing behind): the migration may go.
        Assert.Equal(0, _s.Fs.SetLock(Root, l, h, 7, exclusive with { Type = (uint)Libc.F_UNLCK }, wait: false, isFlock: true));
        Assert.Equal(0, _s.Fs.SetLock(Root, p, ph, 9, range with { Type = (uint)Libc.F_UNLCK }, wait: false, isFlock: false));
        Assert.NotNull(SaveFrom(_s, new MigrationOptions(), out problem));
    }

    [Fact]
    public void A_changed_byte_or_a_cut_stream_is_refused_before_anything_is_read()
    {
        _s.WriteHost("c.txt", "c");
        _s.Lookup(NodeId.Root, "c.txt");
        byte[] state = Save();
        byte[] flipped = (byte[])state.Clone();
        flipped[state.Length / 2] ^= 1;
        Assert.Throws<StateFormatException>(() => new StateReader(flipped));
        Assert.Throws<StateFormatException>(() => new StateReader(state[..^1]));
        Assert.Throws<StateFormatException>(() => new StateReader([.. "VFSDCS"u8, 0, 0]));
    }

    [Theory]
    [InlineData("../outside.txt")]
    [InlineData("/etc/passwd")]
    [InlineData("link/secret.txt")]
    [InlineData("./c.txt")]
    [InlineData("d//c.txt")]
    [InlineData("proc/self/root/etc/passwd")]
    public void Paths_that_leave_the_share_are_refused(string path)
    {
        string outside = Path.Combine(Path.GetDirectoryName(_s.Path)!, "mig-outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(outside);
        try
        {
            File.WriteAllText(Path.Combine(outside, "secret.txt"), "secret");
            File.CreateSymbolicLink(_s.Host("link"), outside);
            byte[] state = Forged(MigrationMode.FindPaths, new InodeState(5, 1, Libc.S_IFREG, false, Encoding.UTF8.GetBytes(path), null, null));
            PassthroughFileSystem dest = Destination();
            Assert.NotNull(Load(dest, state));
            Assert.Equal(1, dest.NodeCount);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void A_file_handle_of_a_file_outside_the_share_is_refused()
    {
        string outside = Path.Combine(Path.GetDirectoryName(_s.Path)!, "mig-outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(outside);
        try
        {
            File.WriteAllText(Path.Combine(outside, "secret.txt"), "secret");
            Assert.Equal(0, Libc.NameToHandleAt(Libc.AT_FDCWD, Share.N(Path.Combine(outside, "secret.txt")), 0, out FileHandle? file, out _));
            Assert.Equal(0, Libc.NameToHandleAt(Libc.AT_FDCWD, Share.N(outside), 0, out FileHandle? dir, out _));
            PassthroughFileSystem dest = Destination();
            Assert.Contains("outside", Load(dest, Forged(MigrationMode.FileHandles, new InodeState(5, 1, Libc.S_IFREG, false, null, file, null))),
                StringComparison.Ordinal);
            Assert.Contains("outside", Load(dest, Forged(MigrationMode.FileHandles, new InodeState(6, 1, Libc.S_IFDIR, false, null, dir, null))),
                StringComparison.Ordinal);
            // The same file named by a path inside the share: a path that leads elsewhere does not vouch for it either.
            Assert.NotNull(Load(dest, Forged(MigrationMode.FileHandles,
                new InodeState(7, 1, Libc.S_IFREG, false, Encoding.UTF8.GetBytes("secret.txt"), file, null))));
            Assert.Equal(1, dest.NodeCount);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void Counts_ids_and_flags_out_of_range_are_refused()
    {
        PassthroughFileSystem dest = Destination();
        Assert.Throws<StateFormatException>(() => Load(dest, Forged(MigrationMode.FindPaths, new InodeState(1, 1, Libc.S_IFREG, false, "a"u8.ToArray(), null, null))));
        Assert.Throws<StateFormatException>(() => Load(dest, Forged(MigrationMode.FindPaths, new InodeState(5, 0, Libc.S_IFREG, false, "a"u8.ToArray(), null, null))));
        Assert.Throws<StateFormatException>(() => Load(dest, Forged(MigrationMode.FindPaths, new InodeState(5, 1, 0x7000, false, "a"u8.ToArray(), null, null))));
        Assert.Throws<StateFormatException>(() => Load(dest, Forged(MigrationMode.FindPaths, [], new HandleState(3, 42, 0, false))));
        var w = new StateWriter();
        w.U8(0);
        w.U32(uint.MaxValue); // a count no stream can hold
        Assert.Throws<StateFormatException>(() => Load(dest, w.Finish()));
        Assert.Equal(1, dest.NodeCount);
    }

    private static byte[] Forged(MigrationMode mode, params InodeState[] inodes) => Forged(mode, inodes, []);

    private static byte[] Forged(MigrationMode mode, InodeState[] inodes, params HandleState[] handles)
    {
        var w = new StateWriter();
        w.U8((byte)mode);
        w.U32((uint)inodes.Length);
        foreach (InodeState i in inodes)
        {
            i.Write(w);
        }
        w.U32((uint)handles.Length);
        foreach (HandleState h in handles)
        {
            h.Write(w);
        }
        return w.Finish();
    }
}
