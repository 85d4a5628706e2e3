using VirtioFsd.FuseMount;

namespace VirtioFsd.Tests.HostMount;

/// <summary>The io_uring transport makes one queue per possible CPU, counted as the kernel's num_possible_cpus().</summary>
public sealed class PossibleCpusTests
{
    [Theory]
    [InlineData("0\n", 1)]
    [InlineData("0-1\n", 2)]
    [InlineData("0-3,8-11\n", 8)]
    [InlineData("0,2,4-5", 4)]
    public void Cpu_list_is_counted(string list, int count) => Assert.Equal(count, UringFuseTransport.PossibleCpuCount(list));

    [Fact]
    public void This_machine_has_at_least_one_possible_cpu() => Assert.True(UringFuseTransport.PossibleCpuCount() >= 1);
}
