using System.Text;

namespace VirtioFsd.Fuse.Migration;

/// <summary>
/// Reads serde values in the postcard 1.x wire format, the encoding of the Rust virtiofsd's migration state
/// (postcard's "wire format" specification): unsigned integers wider than a byte as LEB128 varints (at most 5 bytes for
/// a u32, 10 for a u64), signed ones zigzag-encoded first, bool as one byte 0 or 1, u8 as itself, Option as a 0/1 tag,
/// an enum variant's index as a u32 varint, sequences, maps and strings as a varint length then the elements. The
/// input is hostile: every read is bounds-checked, an over-long or overflowing varint, a bool or tag not 0/1, a length
/// beyond its ceiling or beyond what is left, and a string that is not UTF-8 throw <see cref="StateFormatException"/>.
/// </summary>
public sealed class PostcardReader(byte[] data)
{
    private readonly byte[] _data = data ?? throw new ArgumentNullException(nameof(data));
    private int _at;

    /// <summary>Bytes not read yet.</summary>
    public int Remaining => _data.Length - _at;

    public int Position => _at;

    public byte U8(string what)
    {
        if (_at >= _data.Length)
        {
            throw new StateFormatException($"{what}: the state ends at byte {_at}");
        }
        return _data[_at++];
    }

    public bool Bool(string what) => U8(what) switch
    {
        0 => false,
        1 => true,
        var b => throw new StateFormatException($"{what}: {b} at byte {_at - 1} is not a boolean"),
    };

    /// <summary>An Option's tag: false for None, true for Some.</summary>
    public bool OptionTag(string what) => U8(what) switch
    {
        0 => false,
        1 => true,
        var b => throw new StateFormatException($"{what}: {b} at byte {_at - 1} is not an Option tag"),
    };

    public ulong U64(string what) => Varint(what, 10);

    public uint U32(string what) => (uint)Varint(what, 5);

    /// <summary>An i32: zigzag (0, -1, 1, -2... as 0, 1, 2, 3...), then a u32 varint.</summary>
    public int I32(string what)
    {
        uint zigzag = U32(what);
        return (int)(zigzag >> 1) ^ -(int)(zigzag & 1);
    }

    /// <summary>An enum's variant index (serde's u32), refused at or above <paramref name="variants"/>.</summary>
    public uint Variant(string what, uint variants)
    {
        uint index = U32(what);
        if (index >= variants)
        {
            throw new StateFormatException($"{what}: variant {index} is none of the {variants} known");
        }
        return index;
    }

    /// <summary>A sequence's or map's length, refused above <paramref name="max"/> or above what the bytes left could hold at <paramref name="minBytesEach"/>.</summary>
    public int Length(string what, int max, int minBytesEach)
    {
        ulong n = U64(what);
        if (n > (ulong)max || n * (ulong)Math.Max(1, minBytesEach) > (ulong)Remaining)
        {
            throw new StateFormatException($"{what}: {n} is more than allowed ({max}) or than the state holds");
        }
        return (int)n;
    }

    /// <summary>A byte sequence (Vec&lt;u8&gt;) of at most <paramref name="maxLength"/> bytes.</summary>
    public ReadOnlySpan<byte> Bytes(string what, int maxLength)
    {
        int n = Length(what + " length", maxLength, 1);
        ReadOnlySpan<byte> span = _data.AsSpan(_at, n);
        _at += n;
        return span;
    }

    /// <summary>A String: its bytes, which must be UTF-8 (serde refuses anything else too).</summary>
    public string String(string what, int maxLength)
    {
        ReadOnlySpan<byte> bytes = Bytes(what, maxLength);
        try
        {
            return Strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new StateFormatException($"{what}: not UTF-8");
        }
    }

    /// <summary>Nothing may follow the last value (postcard::from_bytes ignores a tail; a tail here means another format).</summary>
    public void End()
    {
        if (Remaining != 0)
        {
            throw new StateFormatException($"{Remaining} bytes after the end of the state");
        }
    }

    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private ulong Varint(string what, int maxBytes)
    {
        ulong value = 0;
        for (int i = 0; i < maxBytes; i++)
        {
            byte b = U8(what);
            ulong bits = (ulong)(b & 0x7f);
            int shift = 7 * i;
            // The last byte may only carry the bits the type has left (4 for a u32, 1 for a u64).
            if (i == maxBytes - 1 && bits >> ((maxBytes == 5 ? 32 : 64) - shift) != 0)
            {
                throw new StateFormatException($"{what}: varint overflows its {(maxBytes == 5 ? 32 : 64)} bits");
            }
            value |= bits << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
        throw new StateFormatException($"{what}: varint longer than {maxBytes} bytes");
    }
}
