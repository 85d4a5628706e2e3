using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Serilog;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux;
using VirtioFsd.Linux.IoEngine;
using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.FuseMount;

/// <summary>
/// One FUSE-over-io_uring queue (fuse-io-uring.rst): a ring of 128-byte SQEs owned by one thread, and
/// <c>depth</c> entries, each a fuse_uring_req_header plus a payload buffer. Every entry is first
/// handed to the kernel with FUSE_IO_URING_CMD_REGISTER; the command completes when a request sits
/// in the entry's buffers, and the reply goes back in the same buffers with COMMIT_AND_FETCH, which
/// also waits for the entry's next request. The kernel queues a request on the queue of the CPU the
/// caller runs on.
/// <para>
/// Unsafe, and sound: the header block, the payloads and the iovec pairs are native allocations made
/// here, handed to the kernel only while this object lives, and freed in Dispose only once the ring
/// has no command in flight (the thread leaves when every entry has ended).
/// </para>
/// </summary>
internal sealed unsafe class UringQueue : IFuseRequestCompletion, IDisposable
{
    /// <summary>user_data of the multishot poll on the wake eventfd; entry indexes are small.</summary>
    private const ulong WakeUserData = ulong.MaxValue - 1;

    private static readonly int InHeaderSize = Marshal.SizeOf<FuseInHeader>();
    private static readonly int OutHeaderSize = Marshal.SizeOf<FuseOutHeader>();

    private readonly int fuseFd;
    private readonly ushort queueId;
    private readonly Ring ring;
    private readonly Entry[] entries;
    private readonly int payloadSize;
    private readonly ILogger log;
    private readonly int wakeFd;
    private readonly ConcurrentQueue<Entry> completedElsewhere = new();
    private FuseServer? server;
    private Thread? thread;
    private int ringThreadId;
    private long requests;
    private bool served;

    private UringQueue(int fuseFd, ushort queueId, Ring ring, int depth, int payloadSize, int wakeFd, ILogger log)
    {
        this.fuseFd = fuseFd;
        this.queueId = queueId;
        this.ring = ring;
        this.payloadSize = payloadSize;
        this.wakeFd = wakeFd;
        this.log = log;
        entries = new Entry[depth];
        for (int i = 0; i < depth; i++)
        {
            entries[i] = new Entry(i, payloadSize, this);
        }
    }

    /// <summary>Requests served through this queue.</summary>
    public long Requests => Interlocked.Read(ref requests);

    /// <summary>Creates the ring and buffers; returns null with -errno when io_uring cannot do URING_CMD on 128-byte SQEs.</summary>
    public static UringQueue? TryCreate(int fuseFd, ushort queueId, int depth, int payloadSize, ILogger log, out int error)
    {
        // One SQE per entry at most is outstanding, plus the wake poll: depth + 1, rounded up by the kernel.
        if (!Ring.TryCreate((uint)depth + 1, new RingOptions { SetupFlags = IoUringConstants.SetupSqe128 }, out Ring? ring, out error))
        {
            return null;
        }
        if (!ring.IsSupported(IoUringOp.UringCmd))
        {
            ring.Dispose();
            error = -Errno.EOPNOTSUPP;
            return null;
        }
        int wake = Libc.EventFd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK);
        if (wake < 0)
        {
            ring.Dispose();
            error = wake;
            return null;
        }
        return new UringQueue(fuseFd, queueId, ring, depth, payloadSize, wake, log);
    }

    public void Start(FuseServer fuseServer)
    {
        server = fuseServer;
        thread = new Thread(Run) { Name = $"fuse-uring-{queueId}", IsBackground = true };
        thread.Start();
    }

    /// <summary>Waits for the queue's thread: it leaves once every entry has ended (the connection is gone).</summary>
    public bool Join(TimeSpan timeout) => thread is null || thread.Join(timeout);

    public void Complete(FuseRequest request)
    {
        var entry = (Entry)request.TransportState!;
        FuseUringReqHeader* header = entry.Header;
        if (request.ReplyLength >= OutHeaderSize)
        {
            // The server wrote fuse_out_header into in_out and the body into the payload: the kernel
            // copies payload_sz bytes of body (fuse_uring_copy_from_ring).
            header->RingEntInOut.PayloadSize = request.ReplyLength - (uint)OutHeaderSize;
        }
        else
        {
            // No reply (a request too malformed to answer): the entry must still go back to the kernel.
            SetError(entry, -Errno.EIO);
        }

        if (Environment.CurrentManagedThreadId == ringThreadId)
        {
            QueueCommand(entry, FuseUringCommand.CommitAndFetch);
        }
        else
        {
            // A deferred completion (SETLKW) on another thread: the ring belongs to its thread.
            completedElsewhere.Enqueue(entry);
            Libc.EventFdWrite(wakeFd);
        }
    }

    private void Run()
    {
        ringThreadId = Environment.CurrentManagedThreadId;
        // The kernel queues a request on the queue of the CPU its caller runs on (fuse_uring_task_to_queue):
        // serving it from that CPU avoids a cross-CPU wake-up per request, as libfuse's queue threads do.
        int pinned = Libc.PinCurrentThread(queueId);
        if (pinned < 0)
        {
            log.Debug("FUSE io_uring queue {Queue}: not pinned to CPU {Queue}: {Error}", queueId, queueId, Errno.Describe(pinned));
        }
        ArmWake();
        foreach (Entry e in entries)
        {
            QueueCommand(e, FuseUringCommand.Register);
        }
        int live = entries.Length;
        while (live > 0)
        {
            int r = ring.SubmitAndWait(1, null);
            if (r < 0)
            {
                log.Error("FUSE io_uring queue {Queue}: io_uring_enter failed: {Error}", queueId, Errno.Describe(r));
                return;
            }
            while (ring.TryGetCompletion(out IoUringCqe cqe))
            {
                if (cqe.UserData == WakeUserData)
                {
                    Libc.EventFdRead(wakeFd, out _);
                    if (!cqe.HasMore)
                    {
                        ArmWake();
                    }
                    continue;
                }
                if (cqe.UserData >= (ulong)entries.Length)
                {
                    continue; // The ring's own cancel.
                }
                if (cqe.Result < 0)
                {
                    live--;
                    ReportEnd(cqe.Result);
                    continue;
                }
                Serve(entries[(int)cqe.UserData]);
            }
            while (completedElsewhere.TryDequeue(out Entry? e))
            {
                QueueCommand(e, FuseUringCommand.CommitAndFetch);
            }
        }
    }

    private void Serve(Entry entry)
    {
        served = true;
        Interlocked.Increment(ref requests);
        FuseUringReqHeader* header = entry.Header;
        uint length = ((FuseInHeader*)header)->Len;
        uint payloadUsed = header->RingEntInOut.PayloadSize;
        entry.CommitId = header->RingEntInOut.CommitId;

        // fuse_uring_args_to_ring: the first argument went to op_in, the others to the payload, and
        // in.len counts them all, so the first argument's length is what remains.
        long opLength = (long)length - InHeaderSize - payloadUsed;
        if (payloadUsed > payloadSize || opLength < 0 || opLength > FuseUringReqHeader.EntInOutOffset - FuseUringReqHeader.OpInOffset)
        {
            log.Warning("FUSE io_uring queue {Queue}: request of {Length} bytes with {Payload} in the payload does not fit the entry; replying EIO",
                queueId, length, payloadUsed);
            SetError(entry, -Errno.EIO);
            QueueCommand(entry, FuseUringCommand.CommitAndFetch);
            return;
        }
        Span<IoVec> readable =
        [
            new IoVec((nint)header, (nuint)InHeaderSize),
            new IoVec((nint)header + FuseUringReqHeader.OpInOffset, (nuint)opLength),
            new IoVec((nint)entry.Payload, payloadUsed),
        ];
        // The reply overwrites the same buffers (as libfuse's fuse_uring.c): the server reads a
        // request's arguments before it writes the reply body.
        Span<IoVec> writable =
        [
            new IoVec((nint)header, (nuint)OutHeaderSize),
            new IoVec((nint)entry.Payload, (nuint)payloadSize),
        ];
        entry.Request.Reset(readable, writable, entry);
        server!.Handle(entry.Request);
    }

    private void ReportEnd(int result)
    {
        if (result is -Errno.ENOTCONN or -Errno.ECONNABORTED or -Errno.ECANCELED)
        {
            return; // The connection ended (unmount or abort): fuse_uring_stop_queues completes every entry so.
        }
        if (!served)
        {
            log.Warning("FUSE io_uring queue {Queue}: FUSE_IO_URING_CMD_REGISTER failed: {Error}; the kernel serves the mount through /dev/fuse",
                queueId, Errno.Describe(result));
        }
        else
        {
            log.Error("FUSE io_uring queue {Queue}: an entry ended with {Error}", queueId, Errno.Describe(result));
        }
    }

    private static void SetError(Entry entry, int error)
    {
        var outHeader = (FuseOutHeader*)entry.Header;
        *outHeader = new FuseOutHeader { Len = (uint)OutHeaderSize, Error = error, Unique = entry.CommitId };
        entry.Header->RingEntInOut.PayloadSize = 0;
    }

    private void QueueCommand(Entry entry, FuseUringCommand command)
    {
        if (!ring.TryGetSqe(out SubmissionEntry sqe))
        {
            // Cannot happen: the SQ holds one command per entry plus the wake poll.
            log.Error("FUSE io_uring queue {Queue}: no free SQE for entry {Entry}", queueId, entry.Index);
            return;
        }
        sqe.UringCmd(fuseFd, (uint)command, (ulong)entry.Iov, 2, (ulong)entry.Index);
        var req = new FuseUringCmdReq
        {
            CommitId = command == FuseUringCommand.Register ? 0 : entry.CommitId,
            QueueId = queueId,
        };
        MemoryMarshal.Write(sqe.Command, in req);
    }

    private void ArmWake()
    {
        if (ring.TryGetSqe(out SubmissionEntry sqe))
        {
            sqe.PollAdd(wakeFd, IoUringConstants.PollIn, multishot: true, WakeUserData);
        }
    }

    public void Dispose()
    {
        ring.Dispose();
        Libc.Close(wakeFd);
        foreach (Entry e in entries)
        {
            e.Dispose();
        }
    }

    /// <summary>One ring entry: its header and payload buffers, the iovec pair naming them, and its request object.</summary>
    private sealed class Entry : IDisposable
    {
        public Entry(int index, int payloadSize, IFuseRequestCompletion completion)
        {
            Index = index;
            // The queue's thread serves the request; its file data moves with blocking syscalls (see docs/io_uring.md).
            Request = new FuseRequest(completion, SyncFileIo.Instance);
            Header = (FuseUringReqHeader*)NativeMemory.AlignedAlloc((nuint)sizeof(FuseUringReqHeader), 64);
            *Header = default;
            Payload = (byte*)NativeMemory.AlignedAlloc((nuint)payloadSize, 4096);
            Iov = (IoVec*)NativeMemory.Alloc(2, (nuint)sizeof(IoVec));
            Iov[0] = new IoVec((nint)Header, (nuint)sizeof(FuseUringReqHeader));
            Iov[1] = new IoVec((nint)Payload, (nuint)payloadSize);
        }

        public int Index { get; }

        public FuseUringReqHeader* Header { get; private set; }

        public byte* Payload { get; private set; }

        public IoVec* Iov { get; private set; }

        public ulong CommitId { get; set; }

        public FuseRequest Request { get; }

        public void Dispose()
        {
            NativeMemory.AlignedFree(Header);
            NativeMemory.AlignedFree(Payload);
            NativeMemory.Free(Iov);
            Header = null;
            Payload = null;
            Iov = null;
        }
    }
}
