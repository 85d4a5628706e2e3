namespace VirtioFsd.Bench.Client;

/// <summary>
/// One request in flight on a queue: its guest buffers (request header+arguments, WRITE payload, reply
/// header+arguments, READ/READDIRPLUS payload) and the per-operation state a workload keeps between the
/// FUSE requests of one compound operation (e.g. CREATE, then RELEASE, then UNLINK).
/// </summary>
public sealed class Slot
{
    /// <summary>Bytes for a request's header + arguments and for a reply's header + arguments.</summary>
    public const int HeaderArea = 4096;

    public Slot(int index, ulong requestGpa, ulong replyGpa, ulong payloadGpa, int payloadSize)
    {
        Index = index;
        RequestGpa = requestGpa;
        ReplyGpa = replyGpa;
        PayloadGpa = payloadGpa;
        PayloadSize = payloadSize;
    }

    public int Index { get; }

    public ulong RequestGpa { get; }

    public ulong ReplyGpa { get; }

    /// <summary>Shared by the WRITE data (readable) and the READ data (writable): a request uses one or the other.</summary>
    public ulong PayloadGpa { get; }

    public int PayloadSize { get; }

    /// <summary>fuse_in_header.unique of the request in flight.</summary>
    public ulong Unique { get; set; }

    /// <summary>The step of a compound operation the request in flight belongs to.</summary>
    public int Stage { get; set; }

    /// <summary>Stopwatch timestamp of the operation's first request.</summary>
    public long StartedAt { get; set; }

    public ulong Node { get; set; }

    public ulong Fh { get; set; }

    public ulong Offset { get; set; }

    public string Name { get; set; } = "";

    /// <summary>Data bytes the operation moved (READ/WRITE payload, READDIRPLUS entries count separately).</summary>
    public long Bytes { get; set; }
}

/// <summary>
/// The scatter-gather shape of one request, as fs/fuse/virtio_fs.c builds it: readable = header,
/// arguments, payload; writable = reply header, reply arguments, reply payload. Zero lengths are omitted.
/// <paramref name="NoReply"/>: a request fuse.h defines without a reply (FORGET): no writable buffer, and
/// the device's used element (length 0) completes it.
/// </summary>
public readonly record struct Step(int RequestBytes, int PayloadBytes, int ReplyArgBytes, int ReplyPayloadBytes, bool NoReply = false);
