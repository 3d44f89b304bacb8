# Held-out style check: ordinary Perl (hashes, regexes, Digest::MD5),
# knowing nothing of ckpt. Prints one line per step.
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(usleep);
$| = 1;
my $steps = $ARGV[0] // 30;
my $d = "start";
my %words;
for my $i (0 .. $steps - 1) {
  $d = md5_hex($d . $i);
  my @digits = ($d =~ /(\d)/g);
  $words{substr($d, 0, 3)}++;
  printf "%d %s %d %d\n", $i, $d, scalar(@digits), scalar(keys %words);
  usleep(100000);
}
