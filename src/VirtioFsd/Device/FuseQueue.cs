using Serilog;
using VirtioFsd.Fuse.Server;
using VirtioFsd.Linux.IoEngine;
using VirtioFsd.Virtio;
using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.Device;

/// <summary>
/// The virtio-fs half of one queue: each chain the queue's <see cref="VirtqueueWorker"/> pops becomes a pooled
/// <see cref="FuseRequest"/> (the chain's buffers, the queue's I/O engine) for the FUSE server, and the request's
/// completion publishes the chain with the reply's length.
/// </summary>
internal sealed class FuseQueue : IVirtqueueHandler, IFuseRequestCompletion, IDisposable
{
    private readonly FuseServer _server;

    // Requests are taken on the worker's thread and almost always given back there: that pool needs no lock. One
    // finished on another thread (a waiting lock) comes back through the concurrent queue.
    private readonly Stack<FuseRequest> _pool = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<FuseRequest> _returnedElsewhere = new();
    private int _workerThreadId;

    /// <param name="engine">The queue's engine; the worker owns and disposes it.</param>
    public FuseQueue(SplitVirtqueue queue, IIoEngine engine, FuseServer server, QueuePolling polling, ILogger log)
    {
        _server = server;
        Worker = new VirtqueueWorker(queue, engine, this, polling, log);
    }

    public VirtqueueWorker Worker { get; }

    public void Handle(DescriptorChain chain, VirtqueueWorker worker)
    {
        _workerThreadId = Environment.CurrentManagedThreadId;
        if (!_pool.TryPop(out FuseRequest? request) && !_returnedElsewhere.TryDequeue(out request))
        {
            request = new FuseRequest(this, worker.Io);
        }
        request.Reset(chain.Readable, chain.Writable, transportTag: chain.HeadIndex);
        _server.Handle(request);
    }

    /// <summary>Called by the server once per request, on the worker's thread or (a waiting lock) another.</summary>
    public void Complete(FuseRequest request)
    {
        Worker.Complete((ushort)request.TransportTag, request.ReplyLength);
        if (Environment.CurrentManagedThreadId == _workerThreadId)
        {
            _pool.Push(request);
        }
        else
        {
            _returnedElsewhere.Enqueue(request);
        }
    }

    public void Stopping(VirtqueueWorker worker) => _server.CancelWaitingLocks(this);

    public void Dispose() => Worker.Dispose();
}
