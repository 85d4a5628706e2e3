using System.Buffers.Binary;

namespace VirtioFsd.Fuse.Migration;

/// <summary>
/// Reads a stream <see cref="StateWriter"/> made. The stream is hostile input: the magic, version and checksum are
/// checked before anything is read, every read is bounds-checked, and every count and length has a caller-given
/// ceiling; anything off throws <see cref="StateFormatException"/> naming what was wrong and where.
/// </summary>
public sealed class StateReader
{
    private readonly byte[] _data;
    private readonly int _end;
    private int _at;

    /// <summary>Checks magic, version and checksum. Throws <see cref="StateFormatException"/> when any of them is off.</summary>
    public StateReader(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        _data = data;
        int header = StateFormat.Magic.Length + 4;
        if (data.Length < header + StateFormat.ChecksumBytes)
        {
            throw new StateFormatException($"state of {data.Length} bytes is too short to be one");
        }
        if (!data.AsSpan(0, StateFormat.Magic.Length).SequenceEqual(StateFormat.Magic))
        {
            throw new StateFormatException("the state does not start with this daemon's magic (another virtiofsd's state?)");
        }
        _end = data.Length - StateFormat.ChecksumBytes;
        Span<byte> hash = stackalloc byte[StateFormat.ChecksumBytes];
        StateChecksum.Hash(data.AsSpan(0, _end), hash);
        if (!hash.SequenceEqual(data.AsSpan(_end)))
        {
            throw new StateFormatException("the state's checksum does not match: it was changed or cut on the way");
        }
        _at = StateFormat.Magic.Length;
        uint version = U32("version");
        if (version != StateFormat.Version)
        {
            throw new StateFormatException($"state format version {version}, this daemon reads version {StateFormat.Version}");
        }
    }

    /// <summary>Bytes left before the checksum.</summary>
    public int Remaining => _end - _at;

    public byte U8(string what) => Take(1, what)[0];

    public bool Bool(string what) => U8(what) switch
    {
        0 => false,
        1 => true,
        var b => throw new StateFormatException($"{what}: {b} is not a boolean"),
    };

    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));

    public int I32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Take(4, what));

    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));

    /// <summary>A count, refused above <paramref name="max"/> (and above what the bytes left could hold at <paramref name="minBytesEach"/>).</summary>
    public int Count(string what, int max, int minBytesEach)
    {
        uint n = U32(what);
        if (n > (uint)max || (ulong)n * (ulong)Math.Max(1, minBytesEach) > (ulong)Remaining)
        {
            throw new StateFormatException($"{what}: {n} is more than allowed ({max}) or than the state holds");
        }
        return (int)n;
    }

    /// <summary>A byte string of at most <paramref name="maxLength"/> bytes.</summary>
    public ReadOnlySpan<byte> Bytes(string what, int maxLength)
    {
        uint n = U32(what + " length");
        if (n > (uint)maxLength)
        {
            throw new StateFormatException($"{what}: {n} bytes, at most {maxLength} allowed");
        }
        return Take((int)n, what);
    }

    /// <summary>Nothing may follow the last field.</summary>
    public void End()
    {
        if (_at != _end)
        {
            throw new StateFormatException($"{_end - _at} bytes after the end of the state");
        }
    }

    private ReadOnlySpan<byte> Take(int n, string what)
    {
        if (n > _end - _at)
        {
            throw new StateFormatException($"{what}: the state ends at byte {_at} of {_end}");
        }
        ReadOnlySpan<byte> span = _data.AsSpan(_at, n);
        _at += n;
        return span;
    }
}
