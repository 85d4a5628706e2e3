using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.Bench.Client;

/// <summary>Access a workload program has while writing requests and reading replies on one queue.</summary>
public sealed class RequestContext
{
    private readonly byte[] _scratch = new byte[Slot.HeaderArea];
    private ulong _unique;

    public RequestContext(GuestRam ram, int queueIndex)
    {
        Ram = ram;
        QueueIndex = queueIndex;
        // Uniques distinct across queues, as the guest's single fiq counter makes them.
        _unique = (ulong)queueIndex << 48;
    }

    public GuestRam Ram { get; }

    /// <summary>Request queue number (0-based among request queues).</summary>
    public int QueueIndex { get; }

    public ulong NextUnique(Slot slot) => slot.Unique = ++_unique;

    /// <summary>A scratch buffer to encode a request into; <see cref="Commit"/> copies it into the slot.</summary>
    public Span<byte> Scratch => _scratch;

    /// <summary>Copies <paramref name="length"/> encoded bytes into the slot's request area.</summary>
    public void Commit(Slot slot, int length) => Ram.Write(slot.RequestGpa, _scratch.AsSpan(0, length));

    /// <summary>Reads <paramref name="destination"/>.Length bytes of the slot's payload area (READ data, dirents).</summary>
    public void ReadPayload(Slot slot, Span<byte> destination) => Ram.Read(slot.PayloadGpa, destination);

    /// <summary>The slot's payload area as a span (payload areas lie in one region).</summary>
    public Span<byte> PayloadSpan(Slot slot, int length) => Ram.GetSpan(slot.PayloadGpa, length);
}
