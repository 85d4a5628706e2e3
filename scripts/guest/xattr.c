/*
 * xattr: a tiny static tool for the test guest, because busybox has no setfattr/getfattr.
 * Built by scripts/setup.sh into .cache/guest/xattr and copied into the initramfs.
 *
 *   xattr set PATH NAME VALUE    setxattr(2)
 *   xattr get PATH NAME          getxattr(2), prints the value and a newline
 *   xattr list PATH              listxattr(2), prints one name a line
 *   xattr remove PATH NAME       removexattr(2)
 *
 * Exits 0 on success, 1 with a message naming errno otherwise (so the guest script can check e.g.
 * that a removed attribute gives ENODATA).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/xattr.h>

/* XATTR_SIZE_MAX in <linux/limits.h>: the largest value the kernel accepts. */
static char buf[65536];

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "xattr: %s %s: %s (errno %d)\n", what, path, strerror(errno), errno);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "set") == 0) {
        if (setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) != 0)
            return fail("setxattr", argv[2]);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "get") == 0) {
        ssize_t n = getxattr(argv[2], argv[3], buf, sizeof buf);
        if (n < 0)
            return fail("getxattr", argv[2]);
        fwrite(buf, 1, (size_t)n, stdout);
        putchar('\n');
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "list") == 0) {
        ssize_t n = listxattr(argv[2], buf, sizeof buf);
        if (n < 0)
            return fail("listxattr", argv[2]);
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
            puts(buf + i);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "remove") == 0) {
        if (removexattr(argv[2], argv[3]) != 0)
            return fail("removexattr", argv[2]);
        return 0;
    }
    fprintf(stderr, "usage: xattr set PATH NAME VALUE | get PATH NAME | list PATH | remove PATH NAME\n");
    return 2;
}
