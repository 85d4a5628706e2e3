namespace VirtioFsd.Bench.Client;

/// <summary>
/// What one queue's requests do: a workload writes a slot's first request for a new operation, then
/// (after each reply) either its next request or "operation complete". Replies with a FUSE error make
/// the run fail: a benchmark that silently measures ENOENT is worse than none.
/// </summary>
public interface IWorkloadProgram
{
    /// <summary>Writes the first request of a new operation into <paramref name="slot"/>.</summary>
    Step Begin(Slot slot, RequestContext context);

    /// <summary>
    /// Reads the reply of the request just completed; returns true with the next request written, or
    /// false when the operation is done.
    /// </summary>
    bool Continue(Slot slot, RequestContext context, ReadOnlySpan<byte> replyArgs, uint replyLength, out Step next);
}
