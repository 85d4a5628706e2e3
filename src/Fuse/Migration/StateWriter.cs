using System.Buffers.Binary;

namespace VirtioFsd.Fuse.Migration;

/// <summary>
/// Builds the device state stream (docs/migration.md "State format"): a magic and version, little-endian fixed-size
/// integers, length-prefixed byte strings, and a SHA-256 of everything before it at the end, so a stream cut short or
/// changed on the way is refused as a whole instead of half-applied. No reflection: the daemon ships as NativeAOT.
/// </summary>
public sealed class StateWriter
{
    private readonly MemoryStream _buffer = new();
    private readonly byte[] _scratch = new byte[8];

    public StateWriter()
    {
        _buffer.Write(StateFormat.Magic);
        U32(StateFormat.Version);
    }

    public void U8(byte value) => _buffer.WriteByte(value);

    public void Bool(bool value) => U8(value ? (byte)1 : (byte)0);

    public void U32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_scratch, value);
        _buffer.Write(_scratch, 0, 4);
    }

    public void I32(int value) => U32(unchecked((uint)value));

    public void U64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_scratch, value);
        _buffer.Write(_scratch, 0, 8);
    }

    /// <summary>A byte string: u32 length, then the bytes.</summary>
    public void Bytes(ReadOnlySpan<byte> value)
    {
        U32((uint)value.Length);
        _buffer.Write(value);
    }

    /// <summary>The finished stream: everything written, then its SHA-256.</summary>
    public byte[] Finish()
    {
        byte[] body = _buffer.ToArray();
        byte[] result = new byte[body.Length + StateFormat.ChecksumBytes];
        body.CopyTo(result, 0);
        StateChecksum.Hash(body, result.AsSpan(body.Length));
        return result;
    }
}

/// <summary>Constants of the state stream.</summary>
public static class StateFormat
{
    /// <summary>"VFSDCS\r\n": this daemon's state, not the Rust virtiofsd's (whose stream starts otherwise).</summary>
    public static ReadOnlySpan<byte> Magic => "VFSDCS\r\n"u8;

    /// <summary>Version 1: session, inodes (by path or file handle), open handles.</summary>
    public const uint Version = 1;

    public const int ChecksumBytes = 32;
}

/// <summary>A state stream that is not what the source sent, or asks for something the destination refuses.</summary>
public sealed class StateFormatException(string message) : Exception(message);
