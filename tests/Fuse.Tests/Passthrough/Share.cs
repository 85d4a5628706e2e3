using System.Text;
using Serilog;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Passthrough;

/// <summary>A temporary shared directory with a passthrough filesystem over it, and helpers that assert success.</summary>
internal sealed class Share : IDisposable
{
    public static readonly RequestContext Root = new(0, 0, 100);
    public static readonly RequestContext Nobody = new(65534, 65534, 200);

    private readonly TempDirectory _dir = new("virtiofsd-passthrough-");

    public Share(Func<PassthroughOptions, PassthroughOptions>? configure = null)
    {
        Assert.Equal(0, Libc.Chmod(_dir.Path, 0b111_101_101));
        // fd-pinned inodes and no device nodes unless a test asks (the daemon's defaults are Prefer and AllowForRoot).
        PassthroughOptions options = new()
        {
            SharedDirectory = _dir.Path,
            Xattr = true,
            InodeFileHandles = InodeFileHandleMode.Never,
            DeviceNodes = DeviceNodePolicy.Deny,
        };
        options = InodeHandleMatrix.Apply(options);
        Fs = new PassthroughFileSystem(configure is null ? options : configure(options), new LoggerConfiguration().CreateLogger());
    }

    public PassthroughFileSystem Fs { get; }

    public string Path => _dir.Path;

    public string Host(string relative) => _dir.Combine(relative);

    public static byte[] N(string name) => Encoding.UTF8.GetBytes(name);

    public Entry Lookup(NodeId parent, string name)
    {
        Assert.Equal(0, Fs.Lookup(Root, parent, N(name), out Entry e));
        Assert.NotEqual(0UL, e.Node.Value);
        return e;
    }

    public int TryLookup(NodeId parent, string name) => Fs.Lookup(Root, parent, N(name), out _);

    /// <summary>Host-side file with content and mode.</summary>
    public void WriteHost(string relative, string content, uint mode = 0b110_100_100)
    {
        File.WriteAllText(Host(relative), content);
        Assert.Equal(0, Libc.Chmod(Host(relative), mode));
    }

    public Statx HostStat(string relative)
    {
        Assert.Equal(0, Libc.StatxAt(Libc.AT_FDCWD, N(Host(relative)), Libc.AT_SYMLINK_NOFOLLOW, Libc.STATX_BASIC_STATS, out Statx st));
        return st;
    }

    public uint HostMode(string relative) => HostStat(relative).Mode & 0xfffu;

    public HandleId Open(NodeId node, int flags, RequestContext? ctx = null)
    {
        Assert.Equal(0, Fs.Open(ctx ?? Root, node, (uint)flags, out OpenResult r));
        return r.Handle;
    }

    public (Entry Entry, HandleId Handle) Create(NodeId parent, string name, uint mode, int flags, RequestContext? ctx = null)
    {
        Assert.Equal(0, Fs.Create(ctx ?? Root, parent, N(name), mode, (uint)flags, out Entry e, out OpenResult r));
        return (e, r.Handle);
    }

    public unsafe long Write(NodeId node, HandleId handle, ulong offset, byte[] data, bool kill = false, RequestContext? ctx = null)
    {
        // The array is pinned by fixed for the duration of the call, which is all the IoVec lives.
        fixed (byte* p = data)
        {
            IoVec[] iov = [new IoVec((nint)p, (nuint)data.Length)];
            return Fs.Write(ctx ?? Root, node, handle, offset, iov, 0, kill);
        }
    }

    public unsafe byte[] Read(NodeId node, HandleId handle, ulong offset, int count)
    {
        byte[] buffer = new byte[count];
        // Pinned for the call, as above.
        fixed (byte* p = buffer)
        {
            IoVec[] iov = [new IoVec((nint)p, (nuint)count)];
            long n = Fs.Read(Root, node, handle, offset, iov);
            Assert.True(n >= 0, $"read failed: {n}");
            return buffer[..(int)n];
        }
    }

    public static SetAttrRequest Attr(uint valid) => new() { Valid = valid };

    public void Dispose()
    {
        Fs.Dispose();
        // A test that mounted something may leave it busy; the temp dir is then left behind.
        _dir.Dispose();
    }
}

/// <summary>Collects READDIR(PLUS) entries up to a fixed count, like a reply buffer that fills up.</summary>
internal sealed class ListSink(int capacity) : IDirectoryEntrySink
{
    public List<(string Name, ulong Next, uint Type, Entry Entry)> Entries { get; } = new();

    public bool Fits(int nameLength) => Entries.Count < capacity;

    public bool TryAdd(ulong ino, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
    {
        if (Entries.Count >= capacity)
        {
            return false;
        }
        Entries.Add((Encoding.UTF8.GetString(name), nextOffset, type, new Entry { Attr = new FileAttr { Ino = ino } }));
        return true;
    }

    public bool TryAddPlus(in Entry entry, ulong nextOffset, uint type, ReadOnlySpan<byte> name)
    {
        if (Entries.Count >= capacity)
        {
            return false;
        }
        Entries.Add((Encoding.UTF8.GetString(name), nextOffset, type, entry));
        return true;
    }
}
