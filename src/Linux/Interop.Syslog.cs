namespace VirtioFsd.Linux;

/// <summary>syslog priorities and facilities from sys/syslog.h (the daemon writes its own datagrams to /dev/log).</summary>
public static partial class Libc
{
    public const int LOG_ERR = 3;
    public const int LOG_WARNING = 4;
    public const int LOG_INFO = 6;
    public const int LOG_DEBUG = 7;

    /// <summary>Facility LOG_USER (1 &lt;&lt; 3), as the Rust virtiofsd uses.</summary>
    public const int LOG_USER = 1 << 3;
}
