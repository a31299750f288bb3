// A patron's record as the ILS keeps it: the fields an import or a connector brings in, staff
// see on the patron screen and the agencies' files carry. One shape, so a field added to the
// record is added everywhere it travels.

export interface PatronRecord {
  barcode: string;
  firstName: string;
  lastName: string;
  address: string;
  address2: string;
  city: string;
  state: string;
  postalCode: string;
  phone: string;
  mobile: string;
  altPhone1: string;
  altPhone2: string;
  email: string;
  birthDate: string | null;
  homeLibrary: string;
  /** The ILS's patron category as text (Koha categorycode, Evergreen profile name, a Sierra-style number as its digits). */
  ptype: string;
  patronCode: string;
  /** UMS's "Adult or Child" as the ILS gives it (Koha: the category's category_type); '' = from the birth date when a file is written. */
  adultOrChild: string;
}
