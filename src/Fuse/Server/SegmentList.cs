using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// A reusable copy of a request's scatter-gather list (device-readable or device-writable part).
/// Empty segments are dropped so that every cursor step makes progress.
/// </summary>
internal sealed class SegmentList
{
    private IoVec[] items = new IoVec[8];

    public int Count { get; private set; }

    /// <summary>Sum of the segment lengths (at most <see cref="long.MaxValue"/>, see <see cref="Set"/>).</summary>
    public long TotalLength { get; private set; }

    public ReadOnlySpan<IoVec> Items => items.AsSpan(0, Count);

    /// <summary>Copies the list; false (and an empty list) if the lengths sum beyond a long, which no real transport produces.</summary>
    public bool Set(ReadOnlySpan<IoVec> segments)
    {
        Count = 0;
        TotalLength = 0;
        if (items.Length < segments.Length)
        {
            items = new IoVec[Math.Max(segments.Length, items.Length * 2)];
        }

        ulong total = 0;
        foreach (IoVec segment in segments)
        {
            if (segment.Length == 0)
            {
                continue;
            }

            total += segment.Length;
            if (total > long.MaxValue || segment.Length > long.MaxValue)
            {
                Count = 0;
                return false;
            }

            items[Count++] = segment;
        }

        TotalLength = (long)total;
        return true;
    }

    public void Clear()
    {
        Count = 0;
        TotalLength = 0;
    }
}
