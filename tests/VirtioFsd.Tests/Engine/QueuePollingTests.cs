using VirtioFsd.Device;
using VirtioFsd.Virtio;

namespace VirtioFsd.Tests.Engine;

/// <summary>
/// --queue-poll-us: a worker that watches its ring after serving takes the guest's next request without a
/// kick (notifications stay off while it watches); one that sleeps at once needs a kick for most of them.
/// </summary>
[Collection(EngineCollection.Name)]
public class QueuePollingTests
{
    private const int Requests = 50;

    [SkippableFact]
    public void A_polling_worker_takes_requests_one_after_another_without_kicks()
    {
        // A window far longer than the gap between two requests of this test, however loaded the machine.
        int kicks = KicksForSequentialLookups(new QueuePolling(TimeSpan.FromSeconds(10), maxPollers: 1));

        // The first request after the worker re-enabled notifications may still kick (with EVENT_IDX the
        // driver kicks at most once more after the device stops advancing avail_event).
        Assert.InRange(kicks, 0, 2);
    }

    [SkippableFact]
    public void A_worker_that_does_not_poll_sleeps_and_is_kicked()
    {
        int kicks = KicksForSequentialLookups(QueuePolling.Off);

        // Each request finds the worker asleep with notifications on, except when the driver publishes the
        // next one in the instant between the reply and the worker re-enabling them.
        Assert.InRange(kicks, Requests / 5, Requests);
    }

    [SkippableFact]
    public void Polling_is_off_when_no_poller_place_is_left()
    {
        var polling = new QueuePolling(TimeSpan.FromSeconds(10), maxPollers: 1);
        Assert.True(polling.TryEnter());
        Assert.False(polling.TryEnter());
        polling.Exit();
        Assert.True(polling.TryEnter());
        Assert.False(QueuePolling.Off.TryEnter());
        Assert.False(new QueuePolling(TimeSpan.FromMicroseconds(30), maxPollers: 0).TryEnter());
    }

    private static int KicksForSequentialLookups(QueuePolling polling)
    {
        using var dir = new TempDirectory("virtiofsd-queue-polling-");
        File.WriteAllText(dir.Combine("f"), "x");
        using var h = new DeviceHarness(dir.Path, DaemonEngine.IoUring, 1, 4, 4096, polling: polling);
        QueueDriver driver = h.Drivers[0];
        FuseCalls.Init(driver);
        int before = driver.Kicks;
        for (int i = 0; i < Requests; i++)
        {
            Assert.NotEqual(0UL, FuseCalls.Ok(FuseCalls.Lookup(driver, 1, "f")));
        }
        return driver.Kicks - before;
    }
}
