using System.Runtime.InteropServices;
using VirtioFsd.Fuse.Abi;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// Writes a reply into the device-writable segments: the body first (after room for the
/// fuse_out_header), then the header once the length is known. READ data goes straight into the
/// segments through <see cref="TryTakeIoVecs"/>.
/// </summary>
public sealed class ReplyWriter
{
    private static readonly int HeaderSize = Marshal.SizeOf<FuseOutHeader>();

    private readonly SegmentList segments;
    private SegmentCursor cursor;
    private IoVec[] vecs = new IoVec[8];

    internal ReplyWriter(SegmentList segments)
    {
        this.segments = segments;
        cursor = new SegmentCursor(segments, 0);
    }

    /// <summary>Total room in the writable segments.</summary>
    public long Capacity => segments.TotalLength;

    /// <summary>Room left for the body.</summary>
    public long Remaining => cursor.Remaining;

    /// <summary>Reply length so far, header included.</summary>
    public long Length => cursor.Position;

    public bool TryWrite<T>(in T value)
        where T : unmanaged
        => cursor.CopyFrom(MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)));

    /// <summary>Writes the first <paramref name="length"/> bytes of a struct (compat sizes for old guests).</summary>
    public bool TryWritePrefix<T>(in T value, int length)
        where T : unmanaged
    {
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value));
        return length <= bytes.Length && cursor.CopyFrom(bytes[..length]);
    }

    public bool TryWrite(ReadOnlySpan<byte> bytes) => cursor.CopyFrom(bytes);

    /// <summary>
    /// The next <paramref name="length"/> bytes of the reply as iovecs, and moves past them; use
    /// <see cref="Truncate"/> when fewer bytes were filled in.
    /// </summary>
    public bool TryTakeIoVecs(long length, out ReadOnlySpan<IoVec> result)
    {
        result = default;
        if (vecs.Length < segments.Count)
        {
            vecs = new IoVec[segments.Count];
        }

        int count = cursor.Take(length, vecs);
        if (count < 0)
        {
            return false;
        }

        result = vecs.AsSpan(0, count);
        return true;
    }

    /// <summary>Shrinks the reply to <paramref name="length"/> bytes (header included), e.g. after a short read.</summary>
    public void Truncate(long length)
    {
        if (length < cursor.Position)
        {
            cursor.Seek(Math.Max(length, HeaderSize));
        }
    }

    /// <summary>Starts a reply: the body begins after the header; false when not even a header fits.</summary>
    internal bool Begin()
    {
        cursor = new SegmentCursor(segments, segments.TotalLength);
        return cursor.Seek(Math.Min(HeaderSize, segments.TotalLength)) && segments.TotalLength >= HeaderSize;
    }

    /// <summary>Writes the header for what was written so far and returns the reply length.</summary>
    internal uint Finish(ulong unique, int error)
    {
        long length = error == 0 ? cursor.Position : HeaderSize;
        var header = new FuseOutHeader { Len = (uint)length, Error = error, Unique = unique };
        var start = new SegmentCursor(segments, HeaderSize);
        start.CopyFrom(MemoryMarshal.AsBytes(new ReadOnlySpan<FuseOutHeader>(in header)));
        return (uint)length;
    }
}
