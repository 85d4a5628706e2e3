using VirtioFsd.Fuse.Abi;

namespace VirtioFsd.Fuse.Tests.Abi;

/// <summary>
/// The INIT log line's flag text, made without reflection, against what Enum.ToString() (reflection, fine in a test)
/// gives for the same value: every named flag alone, the flags a session typically ends up with, none, and values with
/// a bit that has no name.
/// </summary>
public class FuseInitFlagNamesTests
{
    public static TheoryData<ulong> Values()
    {
        var data = new TheoryData<ulong>();
        foreach (FuseInitFlags flag in Enum.GetValues<FuseInitFlags>())
        {
            data.Add((ulong)flag);
        }
        data.Add((ulong)(FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks | FuseInitFlags.MaxPages | FuseInitFlags.InitExt
            | FuseInitFlags.Submounts | FuseInitFlags.SecurityCtx | FuseInitFlags.OverIoUring));
        data.Add((1UL << 42) - 1);   // every named bit
        data.Add(1UL << 42);         // the first bit without a name
        data.Add((1UL << 63) | 1);   // a named bit and an unnamed one
        data.Add(ulong.MaxValue);
        return data;
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Describe_says_what_Enum_ToString_says(ulong value)
    {
        var flags = (FuseInitFlags)value;
        Assert.Equal(flags.ToString(), FuseInitFlagNames.Describe(flags));
    }
}
