using VirtioFsd.Virtio.Virtqueue;

namespace VirtioFsd.Virtio;

/// <summary>
/// What a device does with the chains of one queue that a <see cref="VirtqueueWorker"/> serves (the device-specific half
/// of the loop, as rust-vmm's VhostUserBackend::handle_event is to VringEpollHandler).
/// </summary>
public interface IVirtqueueHandler
{
    /// <summary>
    /// One available chain, on the worker's thread. The chain object is reused for the next pop: copy what outlives
    /// this call. Whoever finishes the request calls <see cref="VirtqueueWorker.Complete"/> exactly once for
    /// <see cref="DescriptorChain.HeadIndex"/>, now or later, from any thread.
    /// </summary>
    void Handle(DescriptorChain chain, VirtqueueWorker worker);

    /// <summary>
    /// The worker takes no more chains: end whatever could keep one of its requests waiting for ever (a lock wait);
    /// the worker then waits until every chain it handed out has completed.
    /// </summary>
    void Stopping(VirtqueueWorker worker);
}
