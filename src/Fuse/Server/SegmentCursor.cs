using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// A position inside a <see cref="SegmentList"/>, bounded by a limit. All copies are bounds-checked
/// against the limit before any byte moves, so a cursor never touches memory outside the segments
/// and never performs a partial copy.
/// </summary>
internal struct SegmentCursor
{
    private SegmentList segments;
    private int index;
    private long offsetInSegment;

    public SegmentCursor(SegmentList segments, long limit)
    {
        this.segments = segments;
        index = 0;
        offsetInSegment = 0;
        Position = 0;
        Limit = Math.Min(limit, segments.TotalLength);
    }

    public long Position { get; private set; }

    public long Limit { get; private set; }

    public readonly long Remaining => Limit - Position;

    /// <summary>Moves to an absolute position (walks from the start; lists are a handful of segments).</summary>
    public bool Seek(long position)
    {
        if (position < 0 || position > Limit)
        {
            return false;
        }

        index = 0;
        offsetInSegment = 0;
        Position = 0;
        return Skip(position);
    }

    /// <summary>Sets a new limit, not beyond the segments' total.</summary>
    public void SetLimit(long limit) => Limit = Math.Clamp(limit, Position, segments.TotalLength);

    public bool Skip(long length)
    {
        if (length < 0 || length > Remaining)
        {
            return false;
        }

        ReadOnlySpan<IoVec> items = segments.Items;
        while (length > 0)
        {
            long available = (long)items[index].Length - offsetInSegment;
            long step = Math.Min(available, length);
            Advance(items, step);
            length -= step;
        }

        return true;
    }

    /// <summary>Copies the next destination.Length bytes out of the segments; false (nothing copied) if fewer remain.</summary>
    public bool CopyTo(Span<byte> destination)
    {
        if (destination.Length > Remaining)
        {
            return false;
        }

        ReadOnlySpan<IoVec> items = segments.Items;
        int done = 0;
        while (done < destination.Length)
        {
            IoVec segment = items[index];
            int step = (int)Math.Min((long)segment.Length - offsetInSegment, destination.Length - done);
            unsafe
            {
                // Sound: index < Count and offsetInSegment + step <= segment.Length (step is bounded by
                // what is left of this segment), and the transport guarantees each segment is mapped
                // and readable until the request completes.
                new ReadOnlySpan<byte>((byte*)segment.Base + offsetInSegment, step).CopyTo(destination[done..]);
            }

            done += step;
            Advance(items, step);
        }

        return true;
    }

    /// <summary>Copies source into the segments at the cursor; false (nothing copied) if it does not fit.</summary>
    public bool CopyFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length > Remaining)
        {
            return false;
        }

        ReadOnlySpan<IoVec> items = segments.Items;
        int done = 0;
        while (done < source.Length)
        {
            IoVec segment = items[index];
            int step = (int)Math.Min((long)segment.Length - offsetInSegment, source.Length - done);
            unsafe
            {
                // Sound: as in CopyTo, the range [offsetInSegment, offsetInSegment + step) lies inside
                // this segment, which the transport guarantees writable until the request completes.
                source.Slice(done, step).CopyTo(new Span<byte>((byte*)segment.Base + offsetInSegment, step));
            }

            done += step;
            Advance(items, step);
        }

        return true;
    }

    /// <summary>
    /// Describes the next <paramref name="length"/> bytes as iovecs (slicing the first and last segment)
    /// into <paramref name="output"/> and moves past them. Returns the number of iovecs, or -1 when fewer
    /// bytes remain or <paramref name="output"/> is too short (then nothing moves).
    /// </summary>
    public int Take(long length, Span<IoVec> output)
    {
        if (length < 0 || length > Remaining)
        {
            return -1;
        }

        SegmentCursor probe = this;
        ReadOnlySpan<IoVec> items = segments.Items;
        int count = 0;
        while (length > 0)
        {
            if (count == output.Length)
            {
                return -1;
            }

            IoVec segment = items[probe.index];
            long step = Math.Min((long)segment.Length - probe.offsetInSegment, length);
            output[count++] = new IoVec(segment.Base + (nint)probe.offsetInSegment, (nuint)step);
            probe.Advance(items, step);
            length -= step;
        }

        this = probe;
        return count;
    }

    private void Advance(ReadOnlySpan<IoVec> items, long step)
    {
        offsetInSegment += step;
        Position += step;
        if (offsetInSegment == (long)items[index].Length)
        {
            index++;
            offsetInSegment = 0;
        }
    }
}
