using VirtioFsd.Linux;

namespace VirtioFsd.VhostUser.Virtqueue;

/// <summary>
/// One request popped from a virtqueue: the head index to give back with
/// <see cref="SplitVirtqueue.AddUsed"/> and the buffers translated to host memory.
/// </summary>
public sealed class DescriptorChain : IDisposable
{
    public ushort HeadIndex { get; internal set; }

    /// <summary>Device-readable buffers, in order, already split at region edges.</summary>
    public ReadOnlySpan<IoVec> Readable => throw new NotImplementedException();

    /// <summary>Device-writable buffers, in order, already split at region edges.</summary>
    public ReadOnlySpan<IoVec> Writable => throw new NotImplementedException();

    public uint ReadableLength { get; internal set; }

    public uint WritableLength { get; internal set; }

    public void Dispose()
    {
    }
}
