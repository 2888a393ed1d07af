package netem

import "reflect"

// Clone returns a deep copy of p, valid or not: the copy shares no
// pointer, slice or map with p.
func (p *Profile) Clone() *Profile {
	// By reflection, so that it keeps in step with the struct. (A JSON
	// round trip did too, but panicked on a profile that does not
	// validate: NaN% does not parse back.) Positions are carried over by
	// hand: they are never changed after parsing, so sharing them is safe.
	var out Profile
	deepCopy(reflect.ValueOf(&out).Elem(), reflect.ValueOf(p).Elem())
	out.pos = p.pos
	return &out
}

// deepCopy sets dst, a settable zero value, to a copy of src that follows
// pointers, slices and maps. Unexported fields are left zero.
func deepCopy(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer, reflect.Interface:
		if src.IsNil() {
			return
		}
		if src.Kind() == reflect.Interface {
			v := reflect.New(src.Elem().Type()).Elem()
			deepCopy(v, src.Elem())
			dst.Set(v)
			return
		}
		v := reflect.New(src.Type().Elem())
		deepCopy(v.Elem(), src.Elem())
		dst.Set(v)
	case reflect.Struct:
		for i := range src.NumField() {
			if src.Type().Field(i).IsExported() {
				deepCopy(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		v := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			deepCopy(v.Index(i), src.Index(i))
		}
		dst.Set(v)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		v := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			e := reflect.New(src.Type().Elem()).Elem()
			deepCopy(e, it.Value())
			v.SetMapIndex(it.Key(), e)
		}
		dst.Set(v)
	case reflect.Array:
		for i := range src.Len() {
			deepCopy(dst.Index(i), src.Index(i))
		}
	default:
		dst.Set(src)
	}
}
