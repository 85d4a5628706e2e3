using Serilog;
using Serilog.Events;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// The FUSE protocol server: decodes a request from a <see cref="FuseRequest"/>, checks it, calls
/// the <see cref="IFileSystem"/> and encodes the reply. Transport-neutral (virtio-fs today,
/// /dev/fuse or FUSE-over-io_uring later) and safe to call from several threads at once.
/// </summary>
public sealed partial class FuseServer
{
    /// <summary>Handler result: the reply body is written (status 0 in the header).</summary>
    private const int Replied = 0;

    /// <summary>
    /// Handler result of the no-reply opcodes (FORGET, BATCH_FORGET, INTERRUPT); whether a reply is
    /// sent is decided by the opcode alone (<see cref="IsNoReply"/>), never by a returned value.
    /// </summary>
    private const int NoReply = int.MinValue;

    /// <summary>Handler result of SETLKW when it completes later from another thread.</summary>
    private const int Pending = int.MinValue + 1;

    /// <summary>MAX_ERRNO (include/linux/err.h): anything below -4095 is not an errno.</summary>
    private const int MaxErrno = 4095;

    /// <summary>Requests whose new inode belongs to the caller (forbid-guest refuses them for a forbidden caller).</summary>
    private static bool CreatesInode(FuseOpcode opcode) => opcode is FuseOpcode.Create or FuseOpcode.Mknod
        or FuseOpcode.Mkdir or FuseOpcode.Symlink or FuseOpcode.Tmpfile;

    private static readonly int InHeaderSize = RequestReader.SizeOf<FuseInHeader>();
    private static readonly int OutHeaderSize = RequestReader.SizeOf<FuseOutHeader>();

    private readonly IFileSystem fs;
    private readonly FuseServerOptions options;
    private readonly ILogger log;
    private readonly EntryTimeouts timeouts;
    private readonly uint maxWrite;
    private readonly object initLock = new();

    /// <summary>The negotiated protocol; null before INIT and after DESTROY, when only INIT is served.</summary>
    private volatile Session? session;

    public FuseServer(IFileSystem fs, FuseServerOptions options, ILogger log)
    {
        ArgumentNullException.ThrowIfNull(fs);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        this.fs = fs;
        this.options = options;
        this.log = log.ForContext<FuseServer>();
        timeouts = EntryTimeouts.From(options.EntryTimeout, options.AttrTimeout);

        // 4 KiB is the guest's page; 1 MiB is FUSE_MAX_MAX_PAGES (256) pages, the most max_pages can ask for.
        maxWrite = Math.Clamp(options.MaxWrite, 4096u, FuseServerOptions.DefaultMaxWrite);
    }

    /// <summary>The flags negotiated by the last INIT, or null when no session is up.</summary>
    public FuseInitFlags? NegotiatedFlags => session?.Flags;

    /// <summary>
    /// Handles one request. Usually completes synchronously (the completion is called before this
    /// returns) but SETLKW completes later from another thread. Never throws: an unexpected exception
    /// becomes EIO for that request and a log line.
    /// </summary>
    public void Handle(FuseRequest request, IFuseRequestCompletion completion)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(completion);
        FuseInHeader header = default;
        bool haveHeader = false;
        int status;
        try
        {
            status = Decode(request, completion, ref header, ref haveHeader);
        }
#pragma warning disable CA1031 // One failing request must not take the daemon down: it becomes EIO (house rule).
        catch (Exception e)
#pragma warning restore CA1031
        {
            log.Error(e, "FUSE {Opcode} (unique {Unique}, {Node}) threw; replying EIO",
                (FuseOpcode)header.Opcode, header.Unique, header.NodeId);
            status = -Errno.EIO;
        }

        // Only SETLKW and the engine's file I/O defer; checking the opcode too means no value a filesystem returns
        // can leave a request without completion.
        if (status == Pending && haveHeader && CanCompleteLater((FuseOpcode)header.Opcode))
        {
            return;
        }

        Finish(request, completion, header, haveHeader, status);
    }

    private int Decode(FuseRequest request, IFuseRequestCompletion completion, ref FuseInHeader header, ref bool haveHeader)
    {
        RequestReader reader = request.Reader;
        long total = request.ReadableLength;
        if (!request.SegmentsValid || !reader.Window(0, total) || !reader.TryRead(out header))
        {
            log.Warning("FUSE request of {Length} readable bytes has no complete fuse_in_header; dropped", total);
            return NoReply;
        }

        haveHeader = true;
        request.Writer.Begin();
        var opcode = (FuseOpcode)header.Opcode;
        if (header.Len != total)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}): in_header.len {Len} but {Readable} readable bytes",
                opcode, header.Unique, header.Len, total);
            return -Errno.EINVAL;
        }

        long extensionLength = header.TotalExtLen * 8L;
        long bodyEnd = header.Len - extensionLength;
        if (bodyEnd < InHeaderSize)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}): {Extensions} bytes of extensions do not fit in {Len}",
                opcode, header.Unique, extensionLength, header.Len);
            return -Errno.EINVAL;
        }

        uint? supplementaryGroup = null;
        SecurityLabel? label = null;
        if (extensionLength > 0)
        {
            int parsed = -Errno.EINVAL;
            if (reader.Window(bodyEnd, header.Len) && reader.TryReadRest(RequestExtensions.MaxLength, out ReadOnlySpan<byte> area))
            {
                parsed = RequestExtensions.Parse(area, out supplementaryGroup, out label);
            }

            if (parsed < 0)
            {
                log.Warning("FUSE {Opcode} (unique {Unique}): malformed request extensions", opcode, header.Unique);
                return parsed;
            }

            reader.Window(InHeaderSize, bodyEnd);
        }

        // Without extensions the reader already stands after the header with the body's end as limit.
        // --translate-uid/gid: the caller acts as its host ids; a forbidden one may not create anything.
        bool uidAllowed = options.Uids.ToHost(header.Uid, out uint uid);
        bool gidAllowed = options.Gids.ToHost(header.Gid, out uint gid);
        if ((!uidAllowed || !gidAllowed) && CreatesInode(opcode))
        {
            return -Errno.EPERM;
        }
        if (supplementaryGroup is uint guestGroup)
        {
            supplementaryGroup = options.Gids.ToHost(guestGroup, out uint hostGroup) ? hostGroup : null;
        }
        var ctx = new RequestContext(uidAllowed ? uid : header.Uid, gidAllowed ? gid : header.Gid, header.Pid)
        {
            SupplementaryGroup = supplementaryGroup,
            SecurityLabel = options.SecurityLabel ? label : null,
        };
        if (log.IsEnabled(LogEventLevel.Debug))
        {
            log.Debug("FUSE {Opcode} unique {Unique} node {Node} uid {Uid} gid {Gid} pid {Pid} len {Len}",
                opcode, header.Unique, header.NodeId, header.Uid, header.Gid, header.Pid, header.Len);
        }

        if (opcode == FuseOpcode.Init)
        {
            return Init(request, header);
        }

        Session? current = session;
        if (current is null)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}) before INIT or after DESTROY; replying EIO", opcode, header.Unique);
            return -Errno.EIO;
        }

        if (options.ReadOnly && IsWriteClass(opcode))
        {
            return -Errno.EROFS;
        }

        if (!options.Xattr && opcode is FuseOpcode.SetXattr or FuseOpcode.GetXattr or FuseOpcode.ListXattr or FuseOpcode.RemoveXattr)
        {
            // Without --xattr the guest learns once (ENOSYS) and stops asking.
            return -Errno.ENOSYS;
        }

        int needed = MinimumReplyBody(opcode);
        if (request.Writer.Remaining < needed)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}): reply area of {Capacity} bytes cannot hold {Needed}",
                opcode, header.Unique, request.Writer.Capacity, needed + OutHeaderSize);
            return -Errno.ERANGE;
        }

        var call = new Call(request, header, ctx, current);
        return Dispatch(opcode, call, completion);
    }

    private int Dispatch(FuseOpcode opcode, in Call call, IFuseRequestCompletion completion) => opcode switch
    {
        FuseOpcode.Destroy => Destroy(),
        FuseOpcode.Lookup => Lookup(call),
        FuseOpcode.Forget => Forget(call),
        FuseOpcode.BatchForget => BatchForget(call),
        FuseOpcode.GetAttr => GetAttr(call),
        FuseOpcode.SetAttr => SetAttr(call),
        FuseOpcode.ReadLink => ReadLink(call),
        FuseOpcode.Symlink => Symlink(call),
        FuseOpcode.Mknod => Mknod(call),
        FuseOpcode.Mkdir => Mkdir(call),
        FuseOpcode.Unlink => Unlink(call),
        FuseOpcode.Rmdir => Rmdir(call),
        FuseOpcode.Rename => Rename(call, withFlags: false),
        FuseOpcode.Rename2 => Rename(call, withFlags: true),
        FuseOpcode.Link => Link(call),
        FuseOpcode.Open => Open(call),
        FuseOpcode.Create => Create(call),
        FuseOpcode.Tmpfile => Tmpfile(call),
        FuseOpcode.Read => Read(call, completion),
        FuseOpcode.Write => Write(call, completion),
        FuseOpcode.Flush => Flush(call),
        FuseOpcode.Release => Release(call),
        FuseOpcode.Fsync => Fsync(call, completion),
        FuseOpcode.OpenDir => OpenDir(call),
        FuseOpcode.ReadDir => ReadDir(call, plus: false),
        FuseOpcode.ReadDirPlus => ReadDir(call, plus: true),
        FuseOpcode.ReleaseDir => ReleaseDir(call),
        FuseOpcode.FsyncDir => FsyncDir(call),
        FuseOpcode.StatFs => StatFs(call),
        FuseOpcode.Access => Access(call),
        FuseOpcode.SetXattr => SetXattr(call),
        FuseOpcode.GetXattr => GetXattr(call),
        FuseOpcode.ListXattr => ListXattr(call),
        FuseOpcode.RemoveXattr => RemoveXattr(call),
        FuseOpcode.Fallocate => Fallocate(call, completion),
        FuseOpcode.Lseek => Lseek(call),
        FuseOpcode.CopyFileRange => CopyFileRange(call),
        FuseOpcode.SyncFs => SyncFs(call),
        FuseOpcode.GetLk => GetLock(call),
        FuseOpcode.SetLk => SetLock(call, completion, wait: false),
        FuseOpcode.SetLkW => SetLock(call, completion, wait: true),
        FuseOpcode.Interrupt => Interrupt(call),
        FuseOpcode.Ioctl => Ioctl(call),
        FuseOpcode.Poll => Poll(call),
        FuseOpcode.NotifyReply => NoReply,

        // STATX (7.39) is asked for only to learn fields beyond fuse_attr (btime); IFileSystem has none
        // and ENOSYS once makes the guest set no_statx and serve such stat calls from its attribute
        // cache (fs/fuse/dir.c fuse_update_get_attr). BMAP and DAX mappings are for block/DAX devices.
        _ => -Errno.ENOSYS,
    };

    /// <summary>Writes the out header (or nothing) and hands the request back to the transport.</summary>
    private void Finish(FuseRequest request, IFuseRequestCompletion completion, in FuseInHeader header, bool haveHeader, int status)
    {
        var opcode = (FuseOpcode)header.Opcode;
        request.ReplyLength = 0;
        if (haveHeader && !IsNoReply(opcode))
        {
            if (request.Writer.Capacity < OutHeaderSize)
            {
                log.Warning("FUSE {Opcode} (unique {Unique}): no room for a reply header ({Capacity} bytes); completing without reply",
                    opcode, header.Unique, request.Writer.Capacity);
            }
            else
            {
                request.ReplyLength = request.Writer.Finish(header.Unique, ToReplyError(status));
            }

            if (status < 0 && log.IsEnabled(LogEventLevel.Debug))
            {
                log.Debug("FUSE {Opcode} unique {Unique} -> {Error}", opcode, header.Unique, Errno.Describe(status));
            }
        }

        completion.Complete(request);
    }

    /// <summary>
    /// The out header's error: 0 for success (a filesystem may return any non-negative count), the
    /// errno for a failure, and EIO for a "failure" that is no errno at all (a filesystem bug).
    /// </summary>
    private int ToReplyError(long status)
    {
        if (status >= 0)
        {
            return 0;
        }

        if (status >= -MaxErrno)
        {
            return (int)status;
        }

        log.Error("Filesystem returned {Status}, which is no errno; replying EIO", status);
        return -Errno.EIO;
    }

    /// <summary>A negative long result (READ, WRITE, LSEEK, COPY_FILE_RANGE) as a handler status.</summary>
    private static int FromLong(long result) => result >= -MaxErrno ? (int)result : -Errno.EIO;

    /// <summary>FORGET, BATCH_FORGET and INTERRUPT never get a reply, even when malformed (fuse.h: "no reply").</summary>
    private static bool IsNoReply(FuseOpcode opcode)
        => opcode is FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt or FuseOpcode.NotifyReply;

    /// <summary>Requests that change the share; --readonly answers them with EROFS before the filesystem sees them.</summary>
    internal static bool IsWriteClass(FuseOpcode opcode) => opcode is FuseOpcode.SetAttr or FuseOpcode.Symlink
        or FuseOpcode.Mknod or FuseOpcode.Mkdir or FuseOpcode.Unlink or FuseOpcode.Rmdir or FuseOpcode.Rename
        or FuseOpcode.Rename2 or FuseOpcode.Link or FuseOpcode.Create or FuseOpcode.Tmpfile or FuseOpcode.Write
        or FuseOpcode.SetXattr or FuseOpcode.RemoveXattr or FuseOpcode.Fallocate or FuseOpcode.CopyFileRange;

    /// <summary>
    /// The fixed reply body an opcode needs, checked before the filesystem is called so that an
    /// operation with side effects (a lookup reference, a created file) is never done without room
    /// to report it.
    /// </summary>
    private static int MinimumReplyBody(FuseOpcode opcode) => opcode switch
    {
        FuseOpcode.Lookup or FuseOpcode.Symlink or FuseOpcode.Mknod or FuseOpcode.Mkdir or FuseOpcode.Link
            => RequestReader.SizeOf<FuseEntryOut>(),
        FuseOpcode.Create or FuseOpcode.Tmpfile => RequestReader.SizeOf<FuseEntryOut>() + RequestReader.SizeOf<FuseOpenOut>(),
        FuseOpcode.GetAttr or FuseOpcode.SetAttr => RequestReader.SizeOf<FuseAttrOut>(),
        FuseOpcode.Open or FuseOpcode.OpenDir => RequestReader.SizeOf<FuseOpenOut>(),
        FuseOpcode.Write or FuseOpcode.CopyFileRange => RequestReader.SizeOf<FuseWriteOut>(),
        FuseOpcode.StatFs => RequestReader.SizeOf<FuseStatFsOut>(),
        FuseOpcode.GetLk => RequestReader.SizeOf<FuseLkOut>(),
        FuseOpcode.Lseek => RequestReader.SizeOf<FuseLseekOut>(),
        FuseOpcode.GetXattr or FuseOpcode.ListXattr => RequestReader.SizeOf<FuseGetXattrOut>(),
        FuseOpcode.Ioctl => RequestReader.SizeOf<FuseIoctlOut>(),
        _ => 0,
    };

    /// <summary>The negotiated state of one INIT..DESTROY session.</summary>
    private sealed record Session(uint Minor, FuseInitFlags Flags)
    {
        public bool Has(FuseInitFlags flag) => (Flags & flag) == flag;
    }

    /// <summary>What every handler needs: the request, its header, the caller and the session.</summary>
    private readonly struct Call(FuseRequest request, FuseInHeader header, RequestContext ctx, Session session)
    {
        public FuseRequest Request { get; } = request;

        public FuseInHeader Header { get; } = header;

        public RequestContext Ctx { get; } = ctx;

        public Session Session { get; } = session;

        public RequestReader Reader => Request.Reader;

        public ReplyWriter Writer => Request.Writer;

        public NodeId Node => new(Header.NodeId);
    }
}
