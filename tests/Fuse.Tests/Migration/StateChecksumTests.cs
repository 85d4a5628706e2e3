using System.Security.Cryptography;
using System.Text;
using VirtioFsd.Fuse.Migration;

namespace VirtioFsd.Fuse.Tests.Migration;

/// <summary>The state's managed SHA-256 (it must run in the NativeAOT daemon's sandbox, where OpenSSL cannot load) is SHA-256.</summary>
public sealed class StateChecksumTests
{
    private static byte[] Managed(byte[] data)
    {
        byte[] hash = new byte[StateChecksum.Bytes];
        StateChecksum.Hash(data, hash);
        return hash;
    }

    [Fact]
    public void The_fips_180_examples_hash_as_published()
    {
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Convert.ToHexStringLower(Managed([])));
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Convert.ToHexStringLower(Managed("abc"u8.ToArray())));
        Assert.Equal("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            Convert.ToHexStringLower(Managed(Encoding.ASCII.GetBytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))));
    }

    [Fact]
    public void Every_length_around_the_block_and_padding_boundaries_matches_dotnets_sha256()
    {
        byte[] data = RandomNumberGenerator.GetBytes(300_000);
        foreach (int n in Enumerable.Range(0, 200).Concat([447, 448, 511, 512, 513, 4096, 65_535, 300_000]))
        {
            Assert.Equal(SHA256.HashData(data.AsSpan(0, n)), Managed(data[..n]));
        }
    }
}
