import { Suspense } from "react";
import { InstantLessonPanel } from "@/components/instant";
import { TutorSearch, TutorSearchSkeleton } from "@/components/tutor-search";

export default function HomePage() {
  return (
    <div>
      <section className="relative overflow-hidden rounded-3xl bg-gradient-to-br from-indigo-600 via-indigo-500 to-violet-500 px-5 py-4 text-white shadow-lg sm:px-10 sm:py-16">
        <div aria-hidden="true" className="absolute -right-16 -top-16 h-64 w-64 rounded-full bg-white/10 blur-2xl" />
        <div aria-hidden="true" className="absolute -bottom-24 left-1/3 h-64 w-64 rounded-full bg-violet-300/20 blur-3xl" />
        <div className="relative max-w-2xl">
          <p className="hidden text-sm font-semibold uppercase tracking-widest text-indigo-100 sm:block">Live availability · instant booking</p>
          <h1 className="text-xl font-bold tracking-tight sm:mt-3 sm:text-5xl">Find a tutor who fits your week.</h1>
          <p className="mt-1 text-sm text-indigo-50 sm:mt-4 sm:text-lg">
            <span className="sm:hidden">Live free times; hold a slot while you pay.</span>
            <span className="hidden sm:inline">
              Browse friendly tutors, see their real free times update live, hold a slot while you pay, and you&apos;re in.
            </span>
          </p>
        </div>
      </section>
      <div className="mt-3 sm:mt-8">
        <InstantLessonPanel />
        <Suspense fallback={<TutorSearchSkeleton />}>
          <TutorSearch />
        </Suspense>
      </div>
    </div>
  );
}
