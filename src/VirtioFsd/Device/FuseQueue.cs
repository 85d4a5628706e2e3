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
    private readonly Stack<FuseRequest> _pool = new();

    /// <param name="engine">The queue's engine; the worker owns and disposes it.</param>
    public FuseQueue(SplitVirtqueue queue, IIoEngine engine, FuseServer server, QueuePolling polling, ILogger log)
    {
        _server = server;
        Worker = new VirtqueueWorker(queue, engine, this, polling, log);
    }

    public VirtqueueWorker Worker { get; }

    public void Handle(DescriptorChain chain, VirtqueueWorker worker)
    {
        FuseRequest request;
        lock (_pool)
        {
            request = _pool.Count > 0 ? _pool.Pop() : new FuseRequest(this, worker.Io);
        }
        request.Reset(chain.Readable, chain.Writable, transportTag: chain.HeadIndex);
        _server.Handle(request);
    }

    /// <summary>Called by the server once per request, on the worker's thread or (a waiting lock) another.</summary>
    public void Complete(FuseRequest request)
    {
        Worker.Complete((ushort)request.TransportTag, request.ReplyLength);
        lock (_pool)
        {
            _pool.Push(request);
        }
    }

    public void Stopping(VirtqueueWorker worker) => _server.CancelWaitingLocks(this);

    public void Dispose() => Worker.Dispose();
}
