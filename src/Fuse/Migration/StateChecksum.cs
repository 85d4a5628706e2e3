using System.Buffers.Binary;
using System.Numerics;

namespace VirtioFsd.Fuse.Migration;

/// <summary>
/// SHA-256 (FIPS 180-4) of the state stream, in managed code. .NET's SHA256 goes through OpenSSL, which the NativeAOT
/// daemon does not load before its sandbox makes the share the root (RuntimePreload: it would cost megabytes of
/// resident memory for nothing else), and cannot load after: the first migration then ended the process with "No usable
/// version of libssl was found". The checksum guards against a stream cut or changed on the way, nothing more, so its
/// speed matters little (a state is kilobytes to megabytes); tests compare it with .NET's SHA256.
/// </summary>
public static class StateChecksum
{
    public const int Bytes = 32;

    private static readonly uint[] K =
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

    /// <summary>Writes the SHA-256 of <paramref name="data"/> into <paramref name="hash"/> (32 bytes).</summary>
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> hash)
    {
        if (hash.Length < Bytes)
        {
            throw new ArgumentException("a SHA-256 has 32 bytes", nameof(hash));
        }
        Span<uint> h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
        Span<uint> w = stackalloc uint[64];
        int full = data.Length / 64 * 64;
        for (int at = 0; at < full; at += 64)
        {
            Block(data.Slice(at, 64), h, w);
        }
        // The tail, 0x80, zeros, and the length in bits (big-endian) fill one or two last blocks.
        Span<byte> last = stackalloc byte[128];
        last.Clear();
        int rest = data.Length - full;
        data[full..].CopyTo(last);
        last[rest] = 0x80;
        int blocks = rest + 1 + 8 <= 64 ? 1 : 2;
        BinaryPrimitives.WriteUInt64BigEndian(last.Slice(blocks * 64 - 8), (ulong)data.Length * 8);
        for (int b = 0; b < blocks; b++)
        {
            Block(last.Slice(b * 64, 64), h, w);
        }
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(hash.Slice(i * 4), h[i]);
        }
    }

    private static void Block(ReadOnlySpan<byte> block, Span<uint> h, Span<uint> w)
    {
        for (int t = 0; t < 16; t++)
        {
            w[t] = BinaryPrimitives.ReadUInt32BigEndian(block.Slice(t * 4));
        }
        for (int t = 16; t < 64; t++)
        {
            uint s0 = BitOperations.RotateRight(w[t - 15], 7) ^ BitOperations.RotateRight(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint s1 = BitOperations.RotateRight(w[t - 2], 17) ^ BitOperations.RotateRight(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = unchecked(w[t - 16] + s0 + w[t - 7] + s1);
        }
        uint a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
        for (int t = 0; t < 64; t++)
        {
            uint sum1 = BitOperations.RotateRight(e, 6) ^ BitOperations.RotateRight(e, 11) ^ BitOperations.RotateRight(e, 25);
            uint choose = (e & f) ^ (~e & g);
            uint t1 = unchecked(k + sum1 + choose + K[t] + w[t]);
            uint sum0 = BitOperations.RotateRight(a, 2) ^ BitOperations.RotateRight(a, 13) ^ BitOperations.RotateRight(a, 22);
            uint majority = (a & b) ^ (a & c) ^ (b & c);
            uint t2 = unchecked(sum0 + majority);
            k = g;
            g = f;
            f = e;
            e = unchecked(d + t1);
            d = c;
            c = b;
            b = a;
            a = unchecked(t1 + t2);
        }
        unchecked
        {
            h[0] += a;
            h[1] += b;
            h[2] += c;
            h[3] += d;
            h[4] += e;
            h[5] += f;
            h[6] += g;
            h[7] += k;
        }
    }
}
