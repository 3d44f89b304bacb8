! count in Fortran (story S1), through libckpt's C API and iso_c_binding.
! Usage: count-fortran [LAST [DELAY_MS]]
module ckpt_api
  use iso_c_binding
  implicit none
  interface
    type(c_ptr) function ckpt_new(dir) bind(c, name="ckpt_new")
      import :: c_ptr
      type(c_ptr), value :: dir
    end function
    integer(c_int) function ckpt_register(ck, name, data, size) bind(c, name="ckpt_register")
      import :: c_ptr, c_int, c_char, c_size_t
      type(c_ptr), value :: ck
      character(kind=c_char), dimension(*) :: name
      type(c_ptr), value :: data
      integer(c_size_t), value :: size
    end function
    integer(c_int) function ckpt_restore(ck, generation) bind(c, name="ckpt_restore")
      import :: c_ptr, c_int
      type(c_ptr), value :: ck
      type(c_ptr), value :: generation
    end function
    integer(c_int) function ckpt_checkpoint(ck) bind(c, name="ckpt_checkpoint")
      import :: c_ptr, c_int
      type(c_ptr), value :: ck
    end function
    integer(c_int) function ckpt_checkpoint_if_due(ck) bind(c, name="ckpt_checkpoint_if_due")
      import :: c_ptr, c_int
      type(c_ptr), value :: ck
    end function
    subroutine ckpt_free(ck) bind(c, name="ckpt_free")
      import :: c_ptr
      type(c_ptr), value :: ck
    end subroutine
    integer(c_int) function usleep(us) bind(c, name="usleep")
      import :: c_int
      integer(c_int), value :: us
    end function
  end interface
end module

program count
  use ckpt_api
  implicit none
  integer(c_long), target :: i
  integer :: last, delay_ms, rc
  character(len=32) :: arg
  type(c_ptr) :: ck

  last = 10
  delay_ms = 1000
  if (command_argument_count() >= 1) then
    call get_command_argument(1, arg)
    read (arg, *) last
  end if
  if (command_argument_count() >= 2) then
    call get_command_argument(2, arg)
    read (arg, *) delay_ms
  end if

  i = 0
  ck = ckpt_new(c_null_ptr)
  rc = ckpt_register(ck, "i"//c_null_char, c_loc(i), int(c_sizeof(i), c_size_t))
  rc = ckpt_restore(ck, c_null_ptr)
  if (rc < 0) stop 1
  do while (i < last)
    i = i + 1
    print '(i0)', i
    flush (6)
    rc = ckpt_checkpoint(ck)
    if (rc < 0) stop 1
    rc = usleep(int(delay_ms * 1000, c_int))
    rc = ckpt_checkpoint_if_due(ck)  ! a Ctrl-C during the sleep stops here
  end do
  call ckpt_free(ck)
end program
