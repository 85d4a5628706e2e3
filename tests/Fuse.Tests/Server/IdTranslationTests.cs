using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Fuse.Tests.Server;

/// <summary>--translate-uid / --translate-gid rules as the Rust virtiofsd 1.13 documents them.</summary>
public class IdTranslationTests
{
    private static IdTranslation Of(params string[] rules) => new(rules.Select(r => IdRule.Parse(r, out string? e) ?? throw new ArgumentException(e)));

    [Fact]
    public void Each_type_maps_in_its_direction_only_and_unmapped_ids_stay()
    {
        IdTranslation t = Of("guest:100:1100:10", "host:2000:200:10", "squash-guest:300:65534:100", "squash-host:5000:7:1000", "map:0:1000:1");
        Assert.True(t.ToHost(105, out uint h) && h == 1105);
        Assert.Equal(1105u, t.ToGuest(1105)); // guest rules do not apply backwards
        Assert.Equal(205u, t.ToGuest(2005));
        Assert.True(t.ToHost(205, out h) && h == 205);
        Assert.True(t.ToHost(399, out h) && h == 65534);
        Assert.Equal(7u, t.ToGuest(5999));
        Assert.True(t.ToHost(0, out h) && h == 1000);
        Assert.Equal(0u, t.ToGuest(1000));
        Assert.True(t.ToHost(42, out h) && h == 42);
        Assert.Equal(42u, t.ToGuest(42));
        Assert.True(IdTranslation.Identity.IsIdentity);
    }

    [Fact]
    public void Forbid_guest_refuses_its_range_and_the_first_covering_rule_decides()
    {
        IdTranslation t = Of("forbid-guest:0:1000", "map:500:1500:10");
        Assert.False(t.ToHost(0, out _));
        Assert.False(t.ToHost(505, out _)); // forbid-guest comes first
        Assert.True(t.ToHost(1000, out uint h) && h == 1000);
        Assert.Equal(505u, t.ToGuest(1505));
    }

    [Theory]
    [InlineData("map:0:1000")]
    [InlineData("map:0:1000:1:2")]
    [InlineData("map:a:1000:1")]
    [InlineData("map:0:1000:0")]
    [InlineData("map:4294967295:0:2")]
    [InlineData("forbid-guest:0:1:1")]
    [InlineData("squash:0:1:1")]
    [InlineData("guest:-1:0:1")]
    public void Malformed_rules_are_refused_with_a_reason(string text)
    {
        Assert.Null(IdRule.Parse(text, out string? error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
