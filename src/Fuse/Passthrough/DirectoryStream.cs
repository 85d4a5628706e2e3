using System.Runtime.CompilerServices;

namespace VirtioFsd.Fuse.Passthrough;

/// <summary>
/// Where a directory handle's fd stands and the getdents64 records read but not yet given to the guest,
/// as glibc's DIR keeps them: a listing read in order costs one getdents64 per 32 KiB of records and no
/// lseek, instead of an lseek and a re-read of the unconsumed tail per READDIR reply.
/// </summary>
/// <remarks>
/// Guarded by the handle's <see cref="OpenFile.DirectoryLock"/>. Kept in a side table keyed by the
/// <see cref="OpenFile"/> object, so it lives exactly as long as the handle without a field in it.
/// Invariant while <see cref="Valid"/>: the fd's position is just past the last record in
/// <c>Buffer[..End]</c>, and <c>Buffer[Start..End]</c> are the records that follow <see cref="Next"/>,
/// the d_off cookie of the last record given out (or the offset last seeked to).
/// </remarks>
internal sealed class DirectoryStream
{
    /// <summary>getdents64 batch: 32 KiB as glibc's readdir uses, ~10 reply pages of 4 KiB per call.</summary>
    public const int BufferSize = 32 * 1024;

    private static readonly ConditionalWeakTable<OpenFile, DirectoryStream> Streams = new();

    private byte[]? _buffer;

    /// <summary>A new handle's fd is at offset 0 with nothing read.</summary>
    public bool Valid { get; private set; } = true;

    /// <summary>The guest offset the buffered records continue from.</summary>
    public ulong Next { get; private set; }

    public int Start { get; private set; }

    public int End { get; private set; }

    public byte[] Buffer => _buffer ??= new byte[BufferSize];

    public static DirectoryStream Of(OpenFile file) => Streams.GetValue(file, static _ => new DirectoryStream());

    /// <summary>Whether a READDIR at <paramref name="offset"/> can continue from here without a seek.</summary>
    public bool ContinuesAt(ulong offset) => Valid && offset == Next;

    /// <summary>The fd was seeked to <paramref name="offset"/>: nothing is buffered.</summary>
    public void Seeked(ulong offset)
    {
        Valid = true;
        Next = offset;
        Start = 0;
        End = 0;
    }

    /// <summary>A fresh getdents64 batch of <paramref name="length"/> bytes replaced the (consumed) buffer.</summary>
    public void Filled(int length)
    {
        Start = 0;
        End = length;
    }

    /// <summary>One record of <paramref name="length"/> bytes, whose d_off is <paramref name="offset"/>, went to the guest (or was skipped).</summary>
    public void Consumed(int length, ulong offset)
    {
        Start += length;
        Next = offset;
    }

    /// <summary>
    /// The listing reached its end with nothing buffered: give the 32 KiB back (a guest may keep many read
    /// directories open), it is allocated again if the handle is read once more.
    /// </summary>
    public void AtEnd()
    {
        if (Start == End)
        {
            _buffer = null;
        }
    }

    /// <summary>Position unknown (an error mid-batch): the next READDIR seeks.</summary>
    public void Invalidate()
    {
        Valid = false;
        Start = 0;
        End = 0;
    }
}
