using VirtioFsd.VhostUser.Tests.Support;
using VirtioFsd.VhostUserFrontend;

namespace VirtioFsd.VhostUser.Tests.Server;

/// <summary>
/// Live migration through the transport, driven as QEMU's vhost.c does it: the dirty log switched on under a running
/// queue (which keeps running), every page a reply wrote and the used ring marked, a log that cannot be used refused;
/// and the device state moved through a pipe with SET_DEVICE_STATE_FD and checked with CHECK_DEVICE_STATE.
/// </summary>
public sealed class MigrationTests : HandlerTestBase
{
    private const ulong In = 0x80000;
    private const ulong Out = 0x83000;

    public MigrationTests()
        : base(new EchoBackend { DeviceState = new TestDeviceState() })
    {
    }

    private TestDeviceState DeviceState => (TestDeviceState)Backend.DeviceState!;

    [Fact]
    public void Log_all_log_shmfd_and_device_state_are_offered()
    {
        Init();
        Assert.NotEqual(0UL, Frontend.BackendFeatures & Proto.FeatureLogAll);
        Assert.NotEqual(0UL, Frontend.BackendProtocolFeatures & Proto.ProtoLogShmfd);
        Assert.NotEqual(0UL, Frontend.BackendProtocolFeatures & Proto.ProtoDeviceState);
    }

    [Fact]
    public void Logging_starts_and_stops_under_a_running_queue_and_marks_every_page_written()
    {
        Init();
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        Frontend.StartQueue(q);
        var driver = DriverQueue.For(Ram, q);
        EchoOnce(driver, q, In, Out);
        using var log = new FrontendDirtyLog(0x100000);
        Frontend.SetLogBase(log);
        int starts = Backend.StartCount;

        // vhost_dev_set_log(true): SET_FEATURES with LOG_ALL, then SET_VRING_ADDR with VHOST_VRING_F_LOG per ring.
        Frontend.SetLogging(true);
        Frontend.SetVringLogging(q, true);
        Assert.Equal(starts, Backend.StartCount);
        Assert.Empty(log.DirtyPages());
        EchoOnce(driver, q, In, Out, length: 5000); // the reply spans two pages
        List<ulong> dirty = log.DirtyPages();
        Assert.Contains(Out, dirty);
        Assert.Contains(Out + 0x1000, dirty);
        Assert.Contains(q.UsedGpa & ~0xfffUL, dirty);
        Assert.DoesNotContain(In, dirty); // read, not written

        Frontend.SetVringLogging(q, false);
        Frontend.SetLogging(false);
        log.Clear();
        EchoOnce(driver, q, In, Out);
        Assert.Empty(log.DirtyPages());
        Assert.Equal(starts, Backend.StartCount);
        Assert.Equal(1, Backend.RunningQueues);
    }

    [Fact]
    public void A_log_that_does_not_fit_its_file_ends_the_connection_with_a_reason()
    {
        Init();
        using var log = new FrontendDirtyLog(0x100000);
        byte[] body = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(body, log.Size * 2);
        Frontend.Socket.Send(Req.SetLogBase, Proto.Version, body, [log.Fd]);
        AssertDisconnected("SET_LOG_BASE");
    }

    [Fact]
    public void State_saved_through_a_pipe_comes_back_whole_and_is_checked()
    {
        Init();
        DeviceState.Saved = Enumerable.Range(0, 300_000).Select(i => (byte)(i * 7)).ToArray(); // larger than a pipe
        (byte[] state, ulong check) = Frontend.SaveDeviceState();
        Assert.Equal(0UL, check);
        Assert.Equal(DeviceState.Saved, state);

        Assert.Equal(0UL, Frontend.LoadDeviceState(state));
        Assert.Equal(state, DeviceState.Loaded);
    }

    [Fact]
    public void A_state_the_device_refuses_fails_the_check_and_the_connection_goes_on()
    {
        Init();
        Assert.NotEqual(0UL, Frontend.LoadDeviceState([0xff, 1, 2, 3]));
        Assert.Contains(Harness.Sink.Lines, l => l.Contains("transfer failed", StringComparison.Ordinal));
        Assert.Equal(0UL, Frontend.LoadDeviceState([1, 2, 3]));
    }

    [Fact]
    public void A_state_that_cannot_be_saved_fails_the_check()
    {
        Init();
        DeviceState.Saved = null;
        (_, ulong check) = Frontend.SaveDeviceState();
        Assert.NotEqual(0UL, check);
    }

    [Fact]
    public void State_transfer_while_a_ring_runs_or_in_an_unknown_phase_is_refused()
    {
        Init();
        using var devNull = new VirtioFsd.Linux.UnixFd(VirtioFsd.Linux.Libc.Openat(VirtioFsd.Linux.Libc.AT_FDCWD, "/dev/null"u8, VirtioFsd.Linux.Libc.O_WRONLY | VirtioFsd.Linux.Libc.O_CLOEXEC));
        Assert.Equal(1UL | Proto.VringNoFd, Frontend.SetDeviceStateFd(0, devNull.Value, phase: 1) & 0x1ff);
        using FrontendQueue q = FrontendQueue.Allocate(0, 64, Alloc);
        Frontend.StartQueue(q);
        Assert.NotEqual(0UL, Frontend.SetDeviceStateFd(0, devNull.Value) & 0xff);
        Frontend.GetVringBase(0);
        Assert.Equal(Proto.VringNoFd, Frontend.SetDeviceStateFd(0, devNull.Value));
        Assert.Equal(0UL, Frontend.CheckDeviceState());
    }

    /// <summary>A device whose state is a byte array; it refuses a state starting with 0xff.</summary>
    private sealed class TestDeviceState : IDeviceState
    {
        public byte[]? Saved { get; set; } = [1, 2, 3];

        public byte[]? Loaded { get; private set; }

        public long MaxStateBytes => 1 << 20;

        public byte[]? Save() => Saved;

        public int Load(ReadOnlySpan<byte> state)
        {
            if (!state.IsEmpty && state[0] == 0xff)
            {
                return -VirtioFsd.Linux.Errno.EINVAL;
            }
            Loaded = state.ToArray();
            return 0;
        }
    }
}
