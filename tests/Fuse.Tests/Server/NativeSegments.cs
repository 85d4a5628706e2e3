using System.Runtime.InteropServices;
using VirtioFsd.Linux;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>
/// Native memory cut into separately allocated segments, standing in for guest buffers that a
/// descriptor chain scatters over memory. Each segment is its own allocation, so a reader that
/// strays past a segment end reads unrelated memory rather than the next segment's bytes.
/// </summary>
public sealed unsafe class NativeSegments : IDisposable
{
    private readonly IoVec[] segments;

    private NativeSegments(int[] sizes)
    {
        segments = new IoVec[sizes.Length];
        for (int i = 0; i < sizes.Length; i++)
        {
            // Alloc(0) may return null; keep one byte so every segment has a real address.
            void* memory = NativeMemory.AllocZeroed((nuint)Math.Max(sizes[i], 1));
            segments[i] = new IoVec((nint)memory, (nuint)sizes[i]);
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

    public void Dispose()
    {
        foreach (IoVec segment in segments)
        {
            NativeMemory.Free((void*)segment.Base);
        }
    }
}
