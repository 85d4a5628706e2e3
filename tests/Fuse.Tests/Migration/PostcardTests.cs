using VirtioFsd.Fuse.Migration;

namespace VirtioFsd.Fuse.Tests.Migration;

/// <summary>
/// The postcard wire format the Rust virtiofsd's state is in: the encodings of postcard's specification (varints,
/// zigzag, tags, length prefixes), and hostile input refused with <see cref="StateFormatException"/>, never anything else.
/// </summary>
public sealed class PostcardTests
{
    private static byte[] H(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    [Theory]
    [InlineData(0UL, "00")]
    [InlineData(127UL, "7F")]
    [InlineData(128UL, "80 01")]
    [InlineData(16384UL, "80 80 01")]
    [InlineData(ulong.MaxValue, "FF FF FF FF FF FF FF FF FF 01")]
    public void U64_is_a_little_endian_base_128_varint(ulong value, string hex)
    {
        var w = new PostcardWriter();
        w.U64(value);
        Assert.Equal(H(hex), w.ToArray());
        var r = new PostcardReader(H(hex));
        Assert.Equal(value, r.U64("v"));
        r.End();
    }

    [Theory]
    [InlineData(0, "00")]
    [InlineData(-1, "01")]
    [InlineData(1, "02")]
    [InlineData(0x8000, "80 80 04")] // O_LARGEFILE, as the Rust daemon sends a read-only open's flags
    [InlineData(int.MinValue, "FF FF FF FF 0F")]
    [InlineData(int.MaxValue, "FE FF FF FF 0F")]
    public void I32_is_zigzag_then_a_varint(int value, string hex)
    {
        var w = new PostcardWriter();
        w.I32(value);
        Assert.Equal(H(hex), w.ToArray());
        Assert.Equal(value, new PostcardReader(H(hex)).I32("v"));
    }

    [Theory]
    [InlineData("FF FF FF FF 1F", "overflows")] // a sixth... bit beyond 32 in the fifth byte
    [InlineData("FF FF FF FF FF 01", "overflows")]
    [InlineData("80 80", "ends")]
    [InlineData("", "ends")]
    public void A_u32_varint_that_overflows_or_is_cut_is_refused(string hex, string why)
    {
        var e = Assert.Throws<StateFormatException>(() => new PostcardReader(H(hex)).U32("field"));
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        Assert.Contains("field", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_u64_varint_longer_than_ten_bytes_or_beyond_64_bits_is_refused()
    {
        Assert.Throws<StateFormatException>(() => new PostcardReader(H("FF FF FF FF FF FF FF FF FF 02")).U64("v"));
        Assert.Throws<StateFormatException>(() => new PostcardReader(H("80 80 80 80 80 80 80 80 80 80 00")).U64("v"));
    }

    [Fact]
    public void Booleans_and_option_tags_are_0_or_1_only()
    {
        var r = new PostcardReader(H("00 01 02"));
        Assert.False(r.Bool("a"));
        Assert.True(r.OptionTag("b"));
        Assert.Throws<StateFormatException>(() => r.Bool("c"));
    }

    [Fact]
    public void Strings_are_length_prefixed_utf8_bounded_by_their_ceiling_and_the_bytes_left()
    {
        var w = new PostcardWriter();
        w.String("mig");
        w.String("é");
        byte[] bytes = w.ToArray();
        Assert.Equal(H("03 6D 69 67 02 C3 A9"), bytes);
        var r = new PostcardReader(bytes);
        Assert.Equal("mig", r.String("a", 255));
        Assert.Equal("é", r.String("b", 255));
        r.End();

        Assert.Throws<StateFormatException>(() => new PostcardReader(H("02 C3 28")).String("not utf-8", 255));
        Assert.Throws<StateFormatException>(() => new PostcardReader(H("05 61 62")).String("cut", 255));
        Assert.Throws<StateFormatException>(() => new PostcardReader(H("03 61 62 63")).String("too long", 2));
        // A huge length is refused before anything is allocated.
        Assert.Throws<StateFormatException>(() => new PostcardReader(H("FF FF FF FF 0F")).Length("count", int.MaxValue, 1));
    }

    [Fact]
    public void Variants_beyond_those_known_are_refused()
    {
        Assert.Equal(1u, new PostcardReader(H("01")).Variant("v", 2));
        Assert.Throws<StateFormatException>(() => new PostcardReader(H("02")).Variant("v", 2));
    }

    [Fact]
    public void Bytes_after_the_end_are_refused()
    {
        var r = new PostcardReader(H("00 00"));
        r.U8("a");
        Assert.Throws<StateFormatException>(r.End);
    }
}
