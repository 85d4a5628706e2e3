using System.Text;

namespace VirtioFsd.Fuse.Migration;

/// <summary>Writes serde values in the postcard 1.x wire format (see <see cref="PostcardReader"/> for the encoding).</summary>
public sealed class PostcardWriter
{
    private readonly MemoryStream _buffer = new();

    public void U8(byte value) => _buffer.WriteByte(value);

    public void Bool(bool value) => U8(value ? (byte)1 : (byte)0);

    public void OptionTag(bool some) => Bool(some);

    public void U64(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        _buffer.WriteByte((byte)value);
    }

    public void U32(uint value) => U64(value);

    public void I32(int value) => U32((uint)((value << 1) ^ (value >> 31)));

    public void Variant(uint index) => U32(index);

    public void Length(int count) => U64((ulong)count);

    public void Bytes(ReadOnlySpan<byte> value)
    {
        Length(value.Length);
        _buffer.Write(value);
    }

    public void String(string value) => Bytes(Encoding.UTF8.GetBytes(value));

    public byte[] ToArray() => _buffer.ToArray();
}
