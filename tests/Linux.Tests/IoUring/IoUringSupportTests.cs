using VirtioFsd.Linux.IoUring;

namespace VirtioFsd.Linux.Tests.IoUring;

/// <summary>Availability detection: the daemon's decision to use io_uring or fall back, with a reason.</summary>
public sealed class IoUringSupportTests : IDisposable
{
    private readonly string _sysctl = Path.Combine(Path.GetTempPath(), "io_uring_disabled-" + Guid.NewGuid().ToString("N"));

    public void Dispose() => File.Delete(_sysctl);

    [Fact]
    public void DetectAgreesWithTheSysctlOnThisMachine()
    {
        IoUringAvailability a = IoUringSupport.Detect();
        if (IoUringSupport.ReadDisabledSysctl(IoUringSupport.DisabledSysctlPath) == 0)
        {
            Assert.True(a.IsAvailable, a.Reason);
            Assert.Equal(Ring.RequiredFeatures, a.Features & Ring.RequiredFeatures);
            Assert.Equal("io_uring available", a.ToString());
        }
        else
        {
            Assert.NotEmpty(a.Reason);
        }
    }

    [Fact]
    public void SysctlValueTwoMeansUnavailableWithReason()
    {
        File.WriteAllText(_sysctl, "2\n");
        IoUringAvailability a = IoUringSupport.Detect(IoUringSupport.EngineOps, _sysctl);
        Assert.False(a.IsAvailable);
        Assert.Contains("= 2", a.Reason);
        Assert.StartsWith("io_uring unavailable: disabled by the administrator", a.ToString());
    }

    [Fact]
    public void MissingOrGarbledSysctlReadsAsEnabled()
    {
        Assert.Equal(0, IoUringSupport.ReadDisabledSysctl(_sysctl)); // absent: kernels before 6.6
        File.WriteAllText(_sysctl, "not a number");
        Assert.Equal(0, IoUringSupport.ReadDisabledSysctl(_sysctl));
        File.WriteAllText(_sysctl, "1\n");
        Assert.Equal(1, IoUringSupport.ReadDisabledSysctl(_sysctl));
    }

    [Fact]
    public void MissingOperationMakesItUnavailableAndIsNamed()
    {
        File.WriteAllText(_sysctl, "0");
        IoUringAvailability a = IoUringSupport.Detect([IoUringOp.Nop, (IoUringOp)250], _sysctl);
        Assert.False(a.IsAvailable);
        Assert.Contains("250", a.Reason);
        Assert.DoesNotContain("Nop", a.Reason);
    }

    [Theory]
    [InlineData(Errno.ENOSYS, 0, "seccomp")]
    [InlineData(Errno.EPERM, 1, "io_uring_group")]
    [InlineData(Errno.EPERM, 0, "seccomp filter or security module")]
    [InlineData(Errno.ENOMEM, 0, "RLIMIT_MEMLOCK")]
    [InlineData(Errno.EOPNOTSUPP, 0, "5.11")]
    [InlineData(Errno.EINVAL, 0, "io_uring_setup failed")]
    public void SetupErrorsBecomeActionableReasons(int errno, int sysctl, string expected) =>
        Assert.Contains(expected, IoUringSupport.DescribeSetupError(-errno, sysctl, IoUringSupport.DisabledSysctlPath));

    [Fact]
    public void ProbeReportsImplementedOperations()
    {
        Assert.True(Ring.TryCreate(2, default, out Ring? ring, out _));
        using (ring)
        {
            foreach (IoUringOp op in IoUringSupport.EngineOps)
            {
                Assert.True(ring.IsSupported(op), op.ToString());
            }
            Assert.False(ring.IsSupported((IoUringOp)250));
        }
    }
}
