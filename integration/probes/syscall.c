/* syscall.c: calls each syscall number given (no arguments) and prints
 * "NR RESULT ERRNO" per line. Built statically by the integration harness
 * (integration/src/probe.rs) to run inside busybox containers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		long nr = strtol(argv[i], NULL, 10);
		errno = 0;
		long r = syscall(nr, 0, 0, 0, 0, 0, 0);
		printf("%ld %ld %d\n", nr, r, r < 0 ? errno : 0);
	}
	return 0;
}
