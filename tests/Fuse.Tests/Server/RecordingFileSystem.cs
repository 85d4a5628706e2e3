using System.Runtime.InteropServices;
using System.Text;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// A fake <see cref="IFileSystem"/>: records every call with its decoded arguments as one line of
/// text and answers with canned results. Thread-safe enough for the SETLKW tests.
/// </summary>
public sealed class RecordingFileSystem : IFileSystem
{
    private readonly List<string> calls = [];

    public IReadOnlyList<string> Calls
    {
        get
        {
            lock (calls)
            {
                return calls.ToArray();
            }
        }
    }

    /// <summary>What every int-returning operation returns (0 or -errno).</summary>
    public int Result { get; set; }

    /// <summary>Thrown by every operation when set.</summary>
    public Exception? Throw { get; set; }

    /// <summary>Mask applied by <see cref="IFileSystem.Init"/>.</summary>
    public FuseInitFlags InitMask { get; set; } = (FuseInitFlags)ulong.MaxValue;

    public Entry Entry { get; set; } = new()
    {
        Node = new NodeId(7),
        Generation = 3,
        Attr = new FileAttr { Ino = 70, Size = 123, Mode = 0x81a4, Nlink = 1, Uid = 1000, Gid = 1000, BlkSize = 4096 },
    };

    public OpenResult Opened { get; set; } = new() { Handle = new HandleId(55), OpenFlags = 0 };

    /// <summary>Bytes READ, READLINK, GETXATTR and LISTXATTR produce.</summary>
    public byte[] Data { get; set; } = [];

    /// <summary>When set, READ and WRITE return this count instead of the bytes they moved (a lying filesystem).</summary>
    public long? CountOverride { get; set; }

    /// <summary>Bytes received by the last WRITE, SETXATTR or IOCTL input.</summary>
    public byte[] Received { get; private set; } = [];

    /// <summary>Iovecs passed to the last READ or WRITE.</summary>
    public IoVec[] LastIoVecs { get; private set; } = [];

    /// <summary>Directory entries READDIR(PLUS) offers to the sink, in order.</summary>
    public List<(string Name, ulong Ino, uint Type)> Directory { get; } = [];

    /// <summary>How many directory entries the sink took on the last READDIR(PLUS).</summary>
    public int Added { get; private set; }

    /// <summary>Blocks SETLKW until set.</summary>
    /// <summary>While closed, a waiting SetLock completes only once it opens (or is cancelled: EINTR).</summary>
    public Gate LockRelease { get; } = new();

    /// <summary>A reusable open/closed gate a waiting call awaits.</summary>
    public sealed class Gate
    {
        private TaskCompletionSource state = Opened();

        public Task WhenOpen => Volatile.Read(ref state).Task;

        public void Reset() => Volatile.Write(ref state, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

        public void Set() => Volatile.Read(ref state).TrySetResult();

        private static TaskCompletionSource Opened()
        {
            var opened = new TaskCompletionSource();
            opened.SetResult();
            return opened;
        }
    }

    private int Record(string call)
    {
        lock (calls)
        {
            calls.Add(call);
        }

        if (Throw is not null)
        {
            throw Throw;
        }

        return Result;
    }

    private static string O(uint value) => Convert.ToString(value, 8);

    private static string S(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    private static string C(in RequestContext ctx)
        => $"ctx={ctx.Uid}/{ctx.Gid}/{ctx.Pid}" + (ctx.SupplementaryGroup is uint g ? $" supp={g}" : "") + (ctx.Umask != 0 ? $" umask={O(ctx.Umask)}" : "");

    public FuseInitFlags Init(FuseInitFlags capable)
    {
        Record($"Init {(ulong)capable:x}");
        return capable & InitMask;
    }

    public void Destroy() => Record("Destroy");

    public int Lookup(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = Entry;
        return Record($"Lookup {C(ctx)} parent={parent.Value} name={S(name)}");
    }

    public void Forget(NodeId node, ulong count) => Record($"Forget node={node.Value} count={count}");

    public int GetAttr(in RequestContext ctx, NodeId node, HandleId? handle, out FileAttr attr)
    {
        attr = Entry.Attr;
        return Record($"GetAttr {C(ctx)} node={node.Value} fh={handle?.Value.ToString() ?? "none"}");
    }

    public int SetAttr(in RequestContext ctx, NodeId node, HandleId? handle, in SetAttrRequest request, out FileAttr attr)
    {
        attr = Entry.Attr;
        return Record($"SetAttr {C(ctx)} node={node.Value} fh={handle?.Value.ToString() ?? "none"} valid={request.Valid:x} mode={O(request.Mode)} uid={request.Uid} gid={request.Gid} size={request.Size} atime={request.Atime}.{request.AtimeNsec} mtime={request.Mtime}.{request.MtimeNsec} owner={request.LockOwner}");
    }

    public int ReadLink(in RequestContext ctx, NodeId node, Span<byte> target)
    {
        int r = Record($"ReadLink {C(ctx)} node={node.Value} room={target.Length}");
        if (r < 0)
        {
            return r;
        }

        Data.CopyTo(target);
        return Data.Length;
    }

    public int Symlink(in RequestContext ctx, ReadOnlySpan<byte> linkTarget, NodeId parent, ReadOnlySpan<byte> name, out Entry entry)
    {
        entry = Entry;
        return Record($"Symlink {C(ctx)} target={S(linkTarget)} parent={parent.Value} name={S(name)}");
    }

    public int Mknod(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, uint rdev, out Entry entry)
    {
        entry = Entry;
        return Record($"Mknod {C(ctx)} parent={parent.Value} name={S(name)} mode={O(mode)} rdev={rdev}");
    }

    public int Mkdir(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, out Entry entry)
    {
        entry = Entry;
        return Record($"Mkdir {C(ctx)} parent={parent.Value} name={S(name)} mode={O(mode)}");
    }

    public int Unlink(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name) => Record($"Unlink {C(ctx)} parent={parent.Value} name={S(name)}");

    public int Rmdir(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name) => Record($"Rmdir {C(ctx)} parent={parent.Value} name={S(name)}");

    public int Rename(in RequestContext ctx, NodeId oldParent, ReadOnlySpan<byte> oldName, NodeId newParent, ReadOnlySpan<byte> newName, uint flags)
        => Record($"Rename {C(ctx)} {oldParent.Value}/{S(oldName)} -> {newParent.Value}/{S(newName)} flags={flags}");

    public int Link(in RequestContext ctx, NodeId node, NodeId newParent, ReadOnlySpan<byte> newName, out Entry entry)
    {
        entry = Entry;
        return Record($"Link {C(ctx)} node={node.Value} -> {newParent.Value}/{S(newName)}");
    }

    public int Open(in RequestContext ctx, NodeId node, uint flags, out OpenResult result)
    {
        result = Opened;
        return Record($"Open {C(ctx)} node={node.Value} flags={flags:x}");
    }

    public int Create(in RequestContext ctx, NodeId parent, ReadOnlySpan<byte> name, uint mode, uint flags, out Entry entry, out OpenResult result)
    {
        entry = Entry;
        result = Opened;
        return Record($"Create {C(ctx)} parent={parent.Value} name={S(name)} mode={O(mode)} flags={flags:x}");
    }

    public int Tmpfile(in RequestContext ctx, NodeId parent, uint mode, uint flags, out Entry entry, out OpenResult result)
    {
        entry = Entry;
        result = Opened;
        return Record($"Tmpfile {C(ctx)} parent={parent.Value} mode={O(mode)} flags={flags:x}");
    }

    public ValueTask<long> Read(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> destination, IFileIo io)
        => new(RecordRead(ctx, node, handle, offset, destination));

    private unsafe long RecordRead(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> destination)
    {
        LastIoVecs = destination.ToArray();
        long room = destination.ToArray().Sum(v => (long)v.Length);
        int r = Record($"Read {C(ctx)} node={node.Value} fh={handle.Value} offset={offset} room={room}");
        if (r < 0)
        {
            return r;
        }

        int done = 0;
        foreach (IoVec v in destination)
        {
            int n = (int)Math.Min((long)v.Length, Data.Length - done);
            // Sound: the server hands out iovecs inside the test's own native reply segments.
            Data.AsSpan(done, n).CopyTo(new Span<byte>((void*)v.Base, n));
            done += n;
        }

        return CountOverride ?? done;
    }

    public ValueTask<long> Write(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> source, uint writeFlags,
        bool killPrivileges, IFileIo io)
        => new(RecordWrite(ctx, node, handle, offset, source, writeFlags, killPrivileges));

    private unsafe long RecordWrite(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, ReadOnlySpan<IoVec> source, uint writeFlags,
        bool killPrivileges)
    {
        LastIoVecs = source.ToArray();
        var bytes = new List<byte>();
        foreach (IoVec v in source)
        {
            // Sound: the iovecs point into the test's native request segments.
            bytes.AddRange(new ReadOnlySpan<byte>((void*)v.Base, (int)v.Length).ToArray());
        }

        Received = bytes.ToArray();
        int r = Record($"Write {C(ctx)} node={node.Value} fh={handle.Value} offset={offset} flags={writeFlags} kill={killPrivileges} bytes={Received.Length}");
        return r < 0 ? r : CountOverride ?? Received.Length;
    }

    public int Flush(in RequestContext ctx, NodeId node, HandleId handle, ulong lockOwner) => Record($"Flush {C(ctx)} node={node.Value} fh={handle.Value} owner={lockOwner}");

    public int Release(in RequestContext ctx, NodeId node, HandleId handle, uint flags, ulong lockOwner, bool releaseFlock)
        => Record($"Release {C(ctx)} node={node.Value} fh={handle.Value} flags={flags:x} owner={lockOwner} flock={releaseFlock}");

    public ValueTask<int> Fsync(in RequestContext ctx, NodeId node, HandleId handle, bool dataSync, IFileIo io) => new(Record($"Fsync {C(ctx)} node={node.Value} fh={handle.Value} datasync={dataSync}"));

    public int OpenDir(in RequestContext ctx, NodeId node, uint flags, out OpenResult result)
    {
        result = Opened;
        return Record($"OpenDir {C(ctx)} node={node.Value} flags={flags:x}");
    }

    public int ReadDir(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, IDirectoryEntrySink sink)
    {
        int r = Record($"ReadDir {C(ctx)} node={node.Value} fh={handle.Value} offset={offset}");
        Added = 0;
        for (int i = (int)offset; r >= 0 && i < Directory.Count; i++)
        {
            var (name, ino, type) = Directory[i];
            if (!sink.TryAdd(ino, (ulong)i + 1, type, Encoding.UTF8.GetBytes(name)))
            {
                break;
            }

            Added++;
        }

        return r;
    }

    public int ReadDirPlus(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, IDirectoryEntrySink sink)
    {
        int r = Record($"ReadDirPlus {C(ctx)} node={node.Value} fh={handle.Value} offset={offset}");
        Added = 0;
        for (int i = (int)offset; r >= 0 && i < Directory.Count; i++)
        {
            var (name, ino, type) = Directory[i];
            if (!sink.Fits(Encoding.UTF8.GetByteCount(name)))
            {
                break;
            }

            Entry entry = Entry;
            entry.Node = new NodeId(100 + (ulong)i);
            entry.Attr.Ino = ino;
            if (!sink.TryAddPlus(entry, (ulong)i + 1, type, Encoding.UTF8.GetBytes(name)))
            {
                break;
            }

            Added++;
        }

        return r;
    }

    public int ReleaseDir(in RequestContext ctx, NodeId node, HandleId handle) => Record($"ReleaseDir {C(ctx)} node={node.Value} fh={handle.Value}");

    public ValueTask<int> FsyncDir(in RequestContext ctx, NodeId node, HandleId handle, bool dataSync, IFileIo io)
        => new(Record($"FsyncDir {C(ctx)} node={node.Value} fh={handle.Value} datasync={dataSync}"));

    public int StatFs(in RequestContext ctx, NodeId node, out StatFs stat)
    {
        stat = new StatFs { Blocks = 1000, Bfree = 500, Bavail = 400, Files = 300, Ffree = 200, Bsize = 4096, Namelen = 255, Frsize = 4096 };
        return Record($"StatFs {C(ctx)} node={node.Value}");
    }

    public int Access(in RequestContext ctx, NodeId node, uint mask) => Record($"Access {C(ctx)} node={node.Value} mask={mask}");

    public int SetXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name, ReadOnlySpan<byte> value, uint flags)
    {
        Received = value.ToArray();
        return Record($"SetXattr {C(ctx)} node={node.Value} name={S(name)} value={S(value)} flags={flags}");
    }

    public int GetXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name, Span<byte> value)
    {
        int r = Record($"GetXattr {C(ctx)} node={node.Value} name={S(name)} room={value.Length}");
        return r < 0 ? r : CopyOut(value);
    }

    public int ListXattr(in RequestContext ctx, NodeId node, Span<byte> list)
    {
        int r = Record($"ListXattr {C(ctx)} node={node.Value} room={list.Length}");
        return r < 0 ? r : CopyOut(list);
    }

    private int CopyOut(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return Data.Length;
        }

        if (buffer.Length < Data.Length)
        {
            return -Errno.ERANGE;
        }

        Data.CopyTo(buffer);
        return Data.Length;
    }

    public int RemoveXattr(in RequestContext ctx, NodeId node, ReadOnlySpan<byte> name) => Record($"RemoveXattr {C(ctx)} node={node.Value} name={S(name)}");

    public ValueTask<int> Fallocate(in RequestContext ctx, NodeId node, HandleId handle, uint mode, ulong offset, ulong length, IFileIo io)
        => new(Record($"Fallocate {C(ctx)} node={node.Value} fh={handle.Value} mode={mode} offset={offset} length={length}"));

    public long Lseek(in RequestContext ctx, NodeId node, HandleId handle, ulong offset, uint whence)
    {
        int r = Record($"Lseek {C(ctx)} node={node.Value} fh={handle.Value} offset={offset} whence={whence}");
        return r < 0 ? r : (long)offset + 1000;
    }

    public long CopyFileRange(in RequestContext ctx, NodeId nodeIn, HandleId handleIn, ulong offsetIn, NodeId nodeOut, HandleId handleOut, ulong offsetOut, ulong length, ulong flags)
    {
        int r = Record($"CopyFileRange {C(ctx)} {nodeIn.Value}/{handleIn.Value}@{offsetIn} -> {nodeOut.Value}/{handleOut.Value}@{offsetOut} length={length} flags={flags}");
        return r < 0 ? r : (long)length;
    }

    public int SyncFs(in RequestContext ctx, NodeId node) => Record($"SyncFs {C(ctx)} node={node.Value}");

    public int GetLock(in RequestContext ctx, NodeId node, HandleId handle, ulong owner, in FileLock request, out FileLock conflicting)
    {
        conflicting = new FileLock { Start = 10, End = 20, Type = 1, Pid = 99 };
        return Record($"GetLock {C(ctx)} node={node.Value} fh={handle.Value} owner={owner} {request.Start}-{request.End} type={request.Type} pid={request.Pid}");
    }

    public ValueTask<int> SetLock(in RequestContext ctx, NodeId node, HandleId handle, ulong owner, in FileLock request, bool wait, bool isFlock,
        CancellationToken cancel)
    {
        string line = $"SetLock {C(ctx)} node={node.Value} fh={handle.Value} owner={owner} {request.Start}-{request.End} type={request.Type} wait={wait} flock={isFlock}";
        Task open = LockRelease.WhenOpen;
        return wait && !open.IsCompleted ? WaitThenRecord(open, line, cancel) : new(Record(line));
    }

    /// <summary>A waiting lock as the passthrough does it: no thread held, EINTR when cancelled.</summary>
    private async ValueTask<int> WaitThenRecord(Task open, string line, CancellationToken cancel)
    {
        await open.WaitAsync(cancel).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return cancel.IsCancellationRequested ? -Errno.EINTR : Record(line);
    }

    public int Ioctl(in RequestContext ctx, NodeId node, HandleId handle, uint flags, uint command, ReadOnlySpan<byte> input, Span<byte> output, out int outputLength)
    {
        Received = input.ToArray();
        int n = Math.Min(Data.Length, output.Length);
        Data.AsSpan(0, n).CopyTo(output);
        outputLength = n;
        int r = Record($"Ioctl {C(ctx)} node={node.Value} fh={handle.Value} flags={flags} cmd={command:x} in={input.Length} out={output.Length}");
        return r < 0 ? r : 5;
    }
}
