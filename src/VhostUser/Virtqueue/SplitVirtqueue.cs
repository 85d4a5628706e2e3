using Serilog;
using VirtioFsd.VhostUser.Memory;

namespace VirtioFsd.VhostUser.Virtqueue;

/// <summary>The device side of a split virtqueue (virtio 1.2 §2.7).</summary>
public sealed class SplitVirtqueue : IDisposable
{
    public SplitVirtqueue(VirtqueueConfig config, GuestMemory memory, ILogger log)
    {
        throw new NotImplementedException();
    }

    public int Index { get; }

    public ushort Size { get; }

    public int KickFd { get; }

    public int CallFd { get; }

    public bool IsBroken { get; }

    public ushort LastAvailIndex { get; }

    public bool TryPopChain(out DescriptorChain chain) => throw new NotImplementedException();

    public bool TryPopChain(DescriptorChain into) => throw new NotImplementedException();

    public void AddUsed(ushort headIndex, uint bytesWritten) => throw new NotImplementedException();

    public bool NotifyIfNeeded() => throw new NotImplementedException();

    public void DisableNotifications() => throw new NotImplementedException();

    public bool EnableNotifications() => throw new NotImplementedException();

    public void Dispose()
    {
    }
}
