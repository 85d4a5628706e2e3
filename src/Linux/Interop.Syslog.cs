using System.Runtime.InteropServices;

namespace VirtioFsd.Linux;

/// <summary>syslog(3): openlog, syslog and closelog. Priorities and facilities from sys/syslog.h.</summary>
public static partial class Libc
{
    public const int LOG_ERR = 3;
    public const int LOG_WARNING = 4;
    public const int LOG_INFO = 6;
    public const int LOG_DEBUG = 7;

    /// <summary>openlog options: include the pid; connect at once (before a sandbox hides /dev/log).</summary>
    public const int LOG_PID = 0x01;
    public const int LOG_NDELAY = 0x08;

    /// <summary>Facility LOG_USER (1 &lt;&lt; 3), as the Rust virtiofsd uses.</summary>
    public const int LOG_USER = 1 << 3;

    [LibraryImport(Lib, EntryPoint = "openlog")]
    private static partial void SyslogOpenRaw(nint ident, int option, int facility);

    [LibraryImport(Lib, EntryPoint = "closelog")]
    private static partial void SyslogCloseRaw();

    // syslog(3) is variadic; it is called with exactly one "%s" argument, which the x86_64 SysV ABI
    // passes in a general register like a fixed argument (%al only bounds the vector registers saved).
    [LibraryImport(Lib, EntryPoint = "syslog", StringMarshalling = StringMarshalling.Utf8)]
    private static partial void SyslogRaw(int priority, string format, string message);

    /// <summary>
    /// openlog(3). glibc keeps the ident pointer, so it is copied to unmanaged memory that lives for the process.
    /// </summary>
    public static void OpenLog(string ident, int option, int facility)
    {
        nint p = Marshal.StringToCoTaskMemUTF8(ident);
        SyslogOpenRaw(p, option, facility);
    }

    /// <summary>syslog(3) of a message taken literally (never as a format string).</summary>
    public static void Syslog(int priority, string message) => SyslogRaw(priority, "%s", message);

    public static void CloseLog() => SyslogCloseRaw();
}
