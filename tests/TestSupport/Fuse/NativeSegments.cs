using System.Runtime.InteropServices;
using VirtioFsd.Linux;

namespace VirtioFsd.TestSupport;

/// <summary>
/// Native memory cut into separately allocated segments, standing in for guest buffers that a
/// descriptor chain scatters over memory. Each segment is its own allocation, fenced on both sides
/// by canary bytes: a reader that strays past a segment end reads the fence rather than the next
/// segment's bytes, and a writer that strays is caught by <see cref="FencesIntact"/>.
/// </summary>
public sealed unsafe class NativeSegments : IDisposable
{
    /// <summary>Canary bytes before and after every segment.</summary>
    public const int Fence = 64;

    private const byte Canary = 0xA5;

    private readonly IoVec[] segments;

    private NativeSegments(int[] sizes, byte content = 0)
    {
        segments = new IoVec[sizes.Length];
        for (int i = 0; i < sizes.Length; i++)
        {
            // Sound: Fence + size + Fence bytes, freed once in Dispose; the segment is the middle part, filled with content.
            byte* block = (byte*)NativeMemory.Alloc((nuint)(Fence + sizes[i] + Fence));
            new Span<byte>(block, Fence + sizes[i] + Fence).Fill(Canary);
            new Span<byte>(block + Fence, sizes[i]).Fill(content);
            segments[i] = new IoVec((nint)(block + Fence), (nuint)sizes[i]);
        }
    }

    public IoVec[] Segments => segments;

    public long TotalLength => segments.Sum(s => (long)s.Length);

    /// <summary>Copies <paramref name="data"/> into segments cut at the given offsets (e.g. in the middle of a header).</summary>
    public static NativeSegments FromBytes(ReadOnlySpan<byte> data, params int[] cuts)
    {
        int length = data.Length;
        int[] bounds = cuts.Where(c => c > 0 && c < length).Distinct().Order().Append(length).ToArray();
        var sizes = new int[bounds.Length];
        int start = 0;
        for (int i = 0; i < bounds.Length; i++)
        {
            sizes[i] = bounds[i] - start;
            start = bounds[i];
        }

        var result = new NativeSegments(sizes);
        start = 0;
        foreach (IoVec segment in result.segments)
        {
            // Sound: the segment was allocated with exactly this length.
            data.Slice(start, (int)segment.Length).CopyTo(new Span<byte>((void*)segment.Base, (int)segment.Length));
            start += (int)segment.Length;
        }

        return result;
    }

    /// <summary>Zeroed segments of the given sizes (room for a reply).</summary>
    public static NativeSegments Empty(params int[] sizes) => new(sizes);

    /// <summary>Segments of the given sizes full of <paramref name="value"/>: a guest buffer with stale bytes in it.</summary>
    public static NativeSegments Filled(byte value, params int[] sizes) => new(sizes, value);

    /// <summary>The bytes of all segments, concatenated.</summary>
    public byte[] ToArray()
    {
        var result = new byte[TotalLength];
        int offset = 0;
        foreach (IoVec segment in segments)
        {
            new ReadOnlySpan<byte>((void*)segment.Base, (int)segment.Length).CopyTo(result.AsSpan(offset));
            offset += (int)segment.Length;
        }

        return result;
    }

    /// <summary>Whether [address, address + length) lies inside one of the segments.</summary>
    public bool Contains(nint address, nuint length)
        => segments.Any(s => address >= s.Base && (nuint)(address - s.Base) + length <= s.Length);

    /// <summary>True when every fence byte around the segments is still the canary (nothing was written outside them).</summary>
    public bool FencesIntact()
    {
        foreach (IoVec segment in segments)
        {
            // Sound: the fences are the first and last Fence bytes of the segment's own allocation.
            byte* block = (byte*)segment.Base - Fence;
            if (new ReadOnlySpan<byte>(block, Fence).IndexOfAnyExcept(Canary) >= 0
                || new ReadOnlySpan<byte>(block + Fence + (int)segment.Length, Fence).IndexOfAnyExcept(Canary) >= 0)
            {
                return false;
            }
        }

        return true;
    }

    public void Dispose()
    {
        foreach (IoVec segment in segments)
        {
            NativeMemory.Free((byte*)segment.Base - Fence);
        }
    }
}
