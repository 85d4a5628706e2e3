using VirtioFsd.Cli;
using VirtioFsd.Device;
using VirtioFsd.Fuse.Passthrough;
using VirtioFsd.Fuse.Passthrough.Migration;
using VirtioFsd.Fuse.Server;

namespace VirtioFsd.Tests.Cli;

public class CliValuesTests
{
    [Fact]
    public void Every_value_has_a_spelling_that_parses_back_to_it()
    {
        RoundTrip(CliValues.Sandbox);
        RoundTrip(CliValues.Seccomp);
        RoundTrip(CliValues.InodeFileHandles);
        RoundTrip(CliValues.Cache);
        RoundTrip(CliValues.LogLevels);
        RoundTrip(CliValues.IoEngine);
        RoundTrip(CliValues.MigrationModes);
        RoundTrip(CliValues.MigrationOnError);
        RoundTrip(CliValues.MigrationStateFormats);
    }

    [Fact]
    public void Aliases_parse_and_the_first_name_is_the_spelling()
    {
        Assert.Equal(CacheMode.Never, CliValues.ParseCache("none"));
        Assert.Equal("never", CliValues.Spelling(CliValues.Cache, CacheMode.Never));
        Assert.True(CliValues.TryParse(CliValues.InodeFileHandles, "fallback", out InodeFileHandleMode prefer));
        Assert.Equal(InodeFileHandleMode.Prefer, prefer);
        Assert.Equal("prefer", CliValues.Spelling(CliValues.InodeFileHandles, InodeFileHandleMode.Prefer));
        Assert.True(CliValues.TryParse(CliValues.IoEngine, "io_uring", out IoEngineKind engine));
        Assert.Equal(IoEngineKind.IoUring, engine);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Auto")]
    [InlineData("auto|always")]
    [InlineData("|")]
    [InlineData("autox")]
    [InlineData("aut")]
    public void Anything_else_is_refused(string text)
    {
        Assert.Null(CliValues.ParseCache(text));
        Assert.Null(CliValues.ParseLogLevel(text));
        Assert.False(CliValues.TryParse(CliValues.MigrationModes, text, out MigrationMode _));
    }

    private static void RoundTrip<T>((string Names, T Value)[] choices)
        where T : struct, Enum
    {
        foreach (T value in Enum.GetValues<T>())
        {
            string spelling = CliValues.Spelling(choices, value);
            Assert.True(CliValues.TryParse(choices, spelling, out T parsed), $"{typeof(T).Name}.{value}: '{spelling}' does not parse");
            Assert.Equal(value, parsed);
        }
    }
}
