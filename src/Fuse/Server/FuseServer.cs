using Serilog;
using Serilog.Events;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.FileSystem;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// The FUSE protocol server: decodes a request from a <see cref="FuseRequest"/>, checks it, calls
/// the <see cref="IFileSystem"/> and encodes the reply. Transport-neutral (virtio-fs, /dev/fuse and
/// FUSE-over-io_uring all hand it <see cref="FuseRequest"/>s) and safe to call from several threads at once.
/// What each opcode needs is in one table (FuseServer.Operations.cs).
/// </summary>
public sealed partial class FuseServer
{
    /// <summary>Handler result: the reply body is written (status 0 in the header).</summary>
    private const int Replied = 0;

    /// <summary>
    /// Handler result of the no-reply opcodes (FORGET, BATCH_FORGET, INTERRUPT); whether a reply is
    /// sent is decided by the opcode's row alone (<see cref="Traits.NoReply"/>), never by a returned value.
    /// </summary>
    private const int NoReply = int.MinValue;

    /// <summary>MAX_ERRNO (include/linux/err.h): anything below -4095 is not an errno.</summary>
    private const int MaxErrno = 4095;

    private static readonly int InHeaderSize = RequestReader.SizeOf<FuseInHeader>();
    private static readonly int OutHeaderSize = RequestReader.SizeOf<FuseOutHeader>();

    private readonly IFileSystem fs;
    private readonly FuseServerOptions options;
    private readonly ILogger log;
    private readonly EntryTimeouts timeouts;
    private readonly bool negativeEntries;
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
        negativeEntries = options.NegativeEntries && options.EntryTimeout > TimeSpan.Zero;

        // 4 KiB is the guest's page; 1 MiB is FUSE_MAX_MAX_PAGES (256) pages, the most max_pages can ask for.
        maxWrite = Math.Clamp(options.MaxWrite, 4096u, FuseServerOptions.DefaultMaxWrite);
    }

    /// <summary>The flags negotiated by the last INIT, or null when no session is up.</summary>
    public FuseInitFlags? NegotiatedFlags => session?.Flags;

    /// <summary>
    /// Handles one request. Usually completes synchronously (the request's completion runs before this returns); file
    /// I/O through an asynchronous engine and a waiting lock complete later, from the thread that finishes them.
    /// Never throws: an unexpected exception becomes EIO for that request and a log line.
    /// </summary>
    public void Handle(FuseRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        FuseInHeader header = default;
        bool haveHeader = false;
        ValueTask<int> status;
        try
        {
            status = Decode(request, ref header, ref haveHeader);
        }
#pragma warning disable CA1031 // One failing request must not take the daemon down: it becomes EIO (house rule).
        catch (Exception e)
#pragma warning restore CA1031
        {
            log.Error(e, "FUSE {Opcode} (unique {Unique}, {Node}) threw; replying EIO", NameOf((FuseOpcode)header.Opcode), header.Unique, header.NodeId);
            status = new(-Errno.EIO);
        }

        if (!status.IsCompleted)
        {
            request.FinishWhenDone(this, status, header);
            return;
        }

        Finish(request, header, haveHeader, Outcome(status, header));
    }

    /// <summary>The continuation of a request whose handler completed later (see <see cref="FuseRequest.FinishWhenDone"/>).</summary>
    internal void FinishLater(FuseRequest request, ValueTask<int> status, in FuseInHeader header)
        => Finish(request, header, haveHeader: true, Outcome(status, header));

    /// <summary>A completed handler's status; an exception it ended with becomes EIO and a log line.</summary>
    private int Outcome(ValueTask<int> status, in FuseInHeader header)
    {
        try
        {
            return status.GetAwaiter().GetResult();
        }
#pragma warning disable CA1031 // As in Handle: a failing request becomes EIO, never a dead daemon.
        catch (Exception e)
#pragma warning restore CA1031
        {
            log.Error(e, "FUSE {Opcode} (unique {Unique}, {Node}) failed; replying EIO", NameOf((FuseOpcode)header.Opcode), header.Unique, header.NodeId);
            return -Errno.EIO;
        }
    }

    private ValueTask<int> Decode(FuseRequest request, ref FuseInHeader header, ref bool haveHeader)
    {
        RequestReader reader = request.Reader;
        long total = request.ReadableLength;
        if (!request.SegmentsValid || !reader.Window(0, total) || !reader.TryRead(out header))
        {
            log.Warning("FUSE request of {Length} readable bytes has no complete fuse_in_header; dropped", total);
            return new(NoReply);
        }

        haveHeader = true;
        request.Writer.Begin();
        var opcode = (FuseOpcode)header.Opcode;
        if (header.Len != total)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}): in_header.len {Len} but {Readable} readable bytes",
                NameOf(opcode), header.Unique, header.Len, total);
            return new(-Errno.EINVAL);
        }

        long extensionLength = header.TotalExtLen * 8L;
        long bodyEnd = header.Len - extensionLength;
        if (bodyEnd < InHeaderSize)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}): {Extensions} bytes of extensions do not fit in {Len}",
                NameOf(opcode), header.Unique, extensionLength, header.Len);
            return new(-Errno.EINVAL);
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
                log.Warning("FUSE {Opcode} (unique {Unique}): malformed request extensions", NameOf(opcode), header.Unique);
                return new(parsed);
            }

            reader.Window(InHeaderSize, bodyEnd);
        }

        Operation? operation = RowOf(opcode);

        // Without extensions the reader already stands after the header with the body's end as limit.
        // --translate-uid/gid: the caller acts as its host ids; a forbidden one may not create anything.
        bool uidAllowed = options.Uids.ToHost(header.Uid, out uint uid);
        bool gidAllowed = options.Gids.ToHost(header.Gid, out uint gid);
        if ((!uidAllowed || !gidAllowed) && operation?.Has(Traits.CreatesInode) == true)
        {
            return new(-Errno.EPERM);
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
                NameOf(opcode), header.Unique, header.NodeId, header.Uid, header.Gid, header.Pid, header.Len);
        }

        if (opcode == FuseOpcode.Init)
        {
            return new(Init(request, header));
        }

        Session? current = session;
        if (current is null)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}) before INIT or after DESTROY; replying EIO", NameOf(opcode), header.Unique);
            return new(-Errno.EIO);
        }

        if (operation is null)
        {
            return new(-Errno.ENOSYS);
        }

        if (options.ReadOnly && operation.Has(Traits.Modifies))
        {
            return new(-Errno.EROFS);
        }

        if (!options.Xattr && operation.Has(Traits.Xattr))
        {
            // Without --xattr the guest learns once (ENOSYS) and stops asking.
            return new(-Errno.ENOSYS);
        }

        // Checked before the filesystem is called, so that an operation with side effects (a lookup reference, a
        // created file) is never done without room to report it.
        if (request.Writer.Remaining < operation.MinimumReply)
        {
            log.Warning("FUSE {Opcode} (unique {Unique}): reply area of {Capacity} bytes cannot hold {Needed}",
                operation.Name, header.Unique, request.Writer.Capacity, operation.MinimumReply + OutHeaderSize);
            return new(-Errno.ERANGE);
        }

        var call = new Call(request, header, ctx, current);
        return operation.Sync is { } handler ? new(handler(this, call)) : operation.Async!(this, call);
    }

    /// <summary>Writes the out header (or nothing) and hands the request back to its transport.</summary>
    private void Finish(FuseRequest request, in FuseInHeader header, bool haveHeader, int status)
    {
        var opcode = (FuseOpcode)header.Opcode;
        request.ReplyLength = 0;
        if (haveHeader && !IsNoReply(opcode))
        {
            if (request.Writer.Capacity < OutHeaderSize)
            {
                log.Warning("FUSE {Opcode} (unique {Unique}): no room for a reply header ({Capacity} bytes); completing without reply",
                    NameOf(opcode), header.Unique, request.Writer.Capacity);
            }
            else
            {
                request.ReplyLength = request.Writer.Finish(header.Unique, ToReplyError(status));
            }

            if (status < 0 && log.IsEnabled(LogEventLevel.Debug))
            {
                log.Debug("FUSE {Opcode} unique {Unique} -> {Error}", NameOf(opcode), header.Unique, Errno.Describe(status));
            }
        }

        request.Complete();
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
