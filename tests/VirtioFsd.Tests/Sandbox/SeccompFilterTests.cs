using VirtioFsd.Linux;
using VirtioFsd.Sandbox;

namespace VirtioFsd.Tests.Sandbox;

public class SeccompFilterTests
{
    [Fact]
    public void Program_checks_the_architecture_then_allows_each_listed_call_and_applies_the_default()
    {
        Libc.SockFilter[] p = SeccompFilter.Build(Libc.SECCOMP_RET_LOG);
        Assert.Equal(4 + (2 * SeccompFilter.AllowList.Length) + 1, p.Length);
        Assert.Equal(4u, p[0].K); // seccomp_data.arch
        Assert.Equal(Libc.AUDIT_ARCH_X86_64, p[1].K);
        Assert.Equal(Libc.SECCOMP_RET_LOG, p[2].K);
        Assert.Equal(0u, p[3].K); // seccomp_data.nr
        for (int i = 0; i < SeccompFilter.AllowList.Length; i++)
        {
            Libc.SockFilter compare = p[4 + (2 * i)];
            Assert.Equal((uint)SeccompFilter.AllowList[i], compare.K);
            Assert.Equal(0, compare.JumpTrue);
            Assert.Equal(1, compare.JumpFalse);
            Assert.Equal(Libc.SECCOMP_RET_ALLOW, p[5 + (2 * i)].K);
        }
        Assert.Equal(Libc.SECCOMP_RET_LOG, p[^1].K);
    }

    [Fact]
    public void Allow_list_is_sorted_unique_and_holds_what_the_runtime_needs()
    {
        Assert.Equal(SeccompFilter.AllowList.Order().Distinct(), SeccompFilter.AllowList);
        // futex 202, tgkill 234 (GC suspension), membarrier 324, rt_sigreturn 15, exit_group 231.
        Assert.Superset(new HashSet<int> { 15, 202, 231, 234, 324 }, SeccompFilter.AllowList.ToHashSet());
        // Never allowed: ptrace 101, mount 165, init_module 175, kexec_load 246.
        Assert.Empty(SeccompFilter.AllowList.Intersect([101, 165, 175, 246]));
    }
}
