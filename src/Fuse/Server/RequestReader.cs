using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Server;

/// <summary>
/// Reads a request body out of the device-readable segments. Structs and names are copied into
/// locals / the request's scratch buffer exactly once, because the guest can change its memory at
/// any time; WRITE payloads are handed on as iovecs without a copy.
/// </summary>
public sealed class RequestReader
{
    private readonly SegmentList segments;
    private SegmentCursor cursor;
    private IoVec[] vecs = new IoVec[8];
    private byte[] scratch = new byte[512];

    internal RequestReader(SegmentList segments)
    {
        this.segments = segments;
        cursor = new SegmentCursor(segments, 0);
    }

    /// <summary>Bytes left before the end of the body (request extensions are not part of it).</summary>
    public long Remaining => cursor.Remaining;

    /// <summary>Reads a wire struct; false when the body is too short for it (nothing consumed).</summary>
    public bool TryRead<T>(out T value)
        where T : unmanaged
    {
        value = default;
        return cursor.CopyTo(MemoryMarshal.AsBytes(new Span<T>(ref value)));
    }

    /// <summary>
    /// Reads a struct of which the guest may send only a prefix (fuse_init_in before 7.36,
    /// setxattr_in without SETXATTR_EXT): at least <paramref name="minimum"/> bytes, the rest stays zero.
    /// </summary>
    public bool TryReadPrefix<T>(int minimum, int length, out T value)
        where T : unmanaged
    {
        value = default;
        Span<byte> bytes = MemoryMarshal.AsBytes(new Span<T>(ref value));
        int take = (int)Math.Min(Math.Min(length, bytes.Length), cursor.Remaining);
        return take >= minimum && cursor.CopyTo(bytes[..take]);
    }

    /// <summary>
    /// Copies the rest of the body (names, xattr values, ioctl input) into a scratch buffer owned by
    /// this reader and returns it; false if it is longer than <paramref name="maximum"/>. The span is
    /// valid until the next call on this reader.
    /// </summary>
    public bool TryReadRest(int maximum, out ReadOnlySpan<byte> rest)
    {
        rest = default;
        if (cursor.Remaining > maximum)
        {
            return false;
        }

        int length = (int)cursor.Remaining;
        if (scratch.Length < length)
        {
            scratch = new byte[Math.Max(length, scratch.Length * 2)];
        }

        Span<byte> buffer = scratch.AsSpan(0, length);
        bool copied = cursor.CopyTo(buffer);
        rest = copied ? buffer : default;
        return copied;
    }

    /// <summary>The next <paramref name="length"/> bytes as iovecs into the request memory (WRITE data); false if fewer remain.</summary>
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

    /// <summary>Skips bytes of the body; false if fewer remain.</summary>
    public bool Skip(long length) => cursor.Skip(length);

    /// <summary>Positions the reader on [start, end) of the readable segments.</summary>
    internal bool Window(long start, long end)
    {
        cursor = new SegmentCursor(segments, end);
        return end <= segments.TotalLength && cursor.Seek(start);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int SizeOf<T>()
        where T : unmanaged => Unsafe.SizeOf<T>();
}
