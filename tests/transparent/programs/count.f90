! A Fortran loop with array state, one step every 100 ms.
program count
  implicit none
  integer :: i, n
  integer(8) :: t0, t1, rate
  real(8) :: a(100000)
  character(len=16) :: arg
  n = 30
  if (command_argument_count() > 0) then
    call get_command_argument(1, arg)
    read (arg, *) n
  end if
  a = 1.0d0
  do i = 1, n
    a = a * 1.000001d0 + 1.0d0
    write (*, '(A,I0,A,F0.3)') 'step ', i, ' ', sum(a)
    flush (6)
    call system_clock(t0, rate)
    do
      call system_clock(t1)
      if (t1 - t0 >= rate / 10) exit
    end do
  end do
end program count
