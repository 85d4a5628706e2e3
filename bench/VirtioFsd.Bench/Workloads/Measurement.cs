namespace VirtioFsd.Bench.Workloads;

/// <summary>One workload on one daemon in one round.</summary>
public sealed record Measurement(
    string Config,
    string Workload,
    int Queues,
    long Ops,
    long Bytes,
    double Seconds,
    double P50Us,
    double P99Us,
    double CpuUsPerOp,
    long ExtraPerOp)
{
    public double OpsPerSecond => Ops / Seconds;

    public double MiBPerSecond => Bytes / Seconds / (1024 * 1024);
}
